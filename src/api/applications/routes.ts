import type { ApplicationCommands } from '../../commands/application/handlers.js';
import { type ActiveApplication, APPLICATION_PAGE_FIELDS, type ApplicationSettings, authMethodOf } from '../../domain/application/decider.js';
import { TLS_CLIENT_AUTH_FIELDS } from '../../domain/application/tls-client-auth.js';
import type { Document, ReadModelStore } from '../../ports/read-models.js';
import { APPLICATION_FIELDS, type ApplicationQueries } from '../../projections/applications/queries.js';
import { type AccessControl, GROUPS_COLLECTION } from '../auth/access-control.js';
import type { Caller } from '../auth/caller.js';
import { describeZodError, InvalidRequestError, NotFoundHttpError } from '../http/errors.js';
import { listQuerySchema, listReply } from '../http/list-query.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';
import type { WriteContext } from '../write-context.js';
import { applyMergePatch } from './merge-patch.js';
import {
  applicationPatchSchema,
  applicationPathSchema,
  applicationReadSchema,
  applicationsSchema,
  type ApplicationWrite,
  applicationWriteSchema,
} from './schemas.js';

import type { CommandMetadata } from '../../domain/shared/decider.js';
import type { SessionEnder } from '../../processes/session-revocation.js';

const TAGS = ['applications'];

const toSettings = ({ metadata, spec }: ApplicationWrite): ApplicationSettings => ({
  name: metadata.name,
  description: metadata.description,
  tags: metadata.tags ?? [],
  ...spec,
  tokenEndpointAuthMethod: authMethodOf(spec),
});

/** The document a PATCH applies to: what a PUT would send to leave the application as it is. */
const writableDocument = (application: ActiveApplication) => ({
  metadata: {
    name: application.name,
    ...(application.description !== undefined && { description: application.description }),
    tags: application.tags,
  },
  spec: {
    redirectURIs: application.redirectURIs,
    grantTypes: application.grantTypes,
    public: application.public,
    enabled: application.enabled,
    groupIDs: application.groupIDs,
    platform: application.platform,
    ...(application.loginURI !== undefined && { loginURI: application.loginURI }),
    tokenEndpointAuthMethod: authMethodOf(application),
    ...Object.fromEntries(TLS_CLIENT_AUTH_FIELDS.filter((field) => application[field] !== undefined).map((field) => [field, application[field]])),
    ...(application.jwks !== undefined && { jwks: application.jwks }),
    ...(application.tlsClientCertificates !== undefined && { tlsClientCertificates: application.tlsClientCertificates }),
    ...Object.fromEntries(APPLICATION_PAGE_FIELDS.filter((field) => application[field] !== undefined).map((field) => [field, application[field]])),
  },
});

interface GroupRoles extends Document {
  spec: { roleIDs: string[] };
}

export function applicationRoutes(deps: {
  commands: ApplicationCommands;
  queries: ApplicationQueries;
  readModels: ReadModelStore;
  writes: WriteContext;
  access: AccessControl;
  sessions: Pick<SessionEnder, 'ofClient'>;
}) {
  const { commands, queries, readModels, writes, access, sessions } = deps;

  /**
   * A disabled application's sessions end before the answer, so that enabling it again
   * revives none of its old tokens (the session-revocation process is the crash-safe second pass).
   */
  const endSessionsIfDisabled = (applicationId: string, enabled: boolean, meta: CommandMetadata) =>
    enabled ? Promise.resolve(undefined) : sessions.ofClient(applicationId, meta, 'client_disabled');

  const readApplication = async (organizationId: string, applicationId: string) => {
    const application = await queries.get(organizationId, applicationId);
    if (!application) throw new NotFoundHttpError(`application ${applicationId} not found`);
    return application;
  };

  /**
   * Through its groups the application holds their roles (client_credentials),
   * so nobody may put it in a group whose roles they could not grant. Ids that
   * are not groups of the organization grant nothing here; the command refuses them.
   */
  const assertCanGrantGroups = async (caller: Caller, organizationId: string, groupIds: readonly string[]) => {
    if (groupIds.length === 0) return;
    const groups = await readModels
      .collection<GroupRoles>(GROUPS_COLLECTION)
      .find({ 'metadata.organizationId': organizationId, _id: { $in: [...new Set(groupIds)] } });
    await access.assertCanGrant(caller, organizationId, [...new Set(groups.flatMap((group) => group.spec.roleIDs))]);
  };

  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/applications',
      timeTravel: true,
      summary: 'List the applications (OAuth 2.0 clients) of an organization.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'read' },
      request: { params: organizationPathSchema, query: listQuerySchema },
      responses: { 200: { description: 'A list of applications.', schema: applicationsSchema } },
      filterable: APPLICATION_FIELDS,
      handler: async ({ params, query }) => listReply(await queries.list(params.organizationID, query)),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/applications',
      oneTimeSecret: true,
      summary: 'Create an application; one authenticating with a secret answers with it, the only time it is shown.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'create' },
      request: { params: organizationPathSchema, body: applicationWriteSchema },
      responses: { 201: { description: 'The application, with status.clientSecret when it is confidential.', schema: applicationReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const settings = toSettings(body);
        await assertCanGrantGroups(caller, params.organizationID, settings.groupIDs);
        const result = await commands.create(params.organizationID, settings, caller, writes.meta(caller, requestId));
        await writes.settle(result.position);
        const application = await readApplication(params.organizationID, result.applicationId);
        const status = result.clientSecret === undefined ? {} : { clientSecret: result.clientSecret };
        return { status: 201, body: { ...application, status } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/applications/{applicationID}',
      timeTravel: true,
      history: { kind: 'application', idParam: 'applicationID' },
      summary: 'Get an application.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'read' },
      request: { params: applicationPathSchema },
      responses: { 200: { description: 'An application.', schema: applicationReadSchema } },
      handler: async ({ params }) => ({ status: 200, body: await readApplication(params.organizationID, params.applicationID) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/organizations/{organizationID}/applications/{applicationID}',
      summary: 'Replace an application\'s metadata and spec.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'update' },
      request: { params: applicationPathSchema, body: applicationWriteSchema },
      responses: { 200: { description: 'The updated application.', schema: applicationReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const settings = toSettings(body);
        await assertCanGrantGroups(caller, params.organizationID, settings.groupIDs);
        const meta = writes.meta(caller, requestId);
        const result = await commands.update(params.organizationID, params.applicationID, settings, caller, meta);
        await writes.settle((await endSessionsIfDisabled(params.applicationID, settings.enabled, meta)) ?? result.position);
        return { status: 200, body: await readApplication(params.organizationID, params.applicationID) };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/api/v1/organizations/{organizationID}/applications/{applicationID}',
      summary: 'Change an application with a JSON merge patch (RFC 7396); the result must be a valid application.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'update' },
      request: { params: applicationPathSchema, body: applicationPatchSchema },
      responses: { 200: { description: 'The updated application.', schema: applicationReadSchema } },
      handler: async ({ params, req, caller, requestId }) => {
        const current = await commands.current(params.organizationID, params.applicationID);
        // The patch as sent (the schema above checked it is an object): the parsed copy would
        // silently drop a "__proto__" key, which the strict write schema should refuse instead.
        const merged = applicationWriteSchema.safeParse(applyMergePatch(writableDocument(current), req.body));
        if (!merged.success) throw new InvalidRequestError(describeZodError(merged.error, 'body'));
        const settings = toSettings(merged.data);
        await assertCanGrantGroups(caller, params.organizationID, settings.groupIDs);
        const meta = writes.meta(caller, requestId);
        // Computed from this version: should it change meanwhile, the patch fails (409) rather than undo that change.
        const result = await commands.update(
          params.organizationID,
          params.applicationID,
          settings,
          caller,
          meta,
          current.version,
        );
        await writes.settle((await endSessionsIfDisabled(params.applicationID, settings.enabled, meta)) ?? result.position);
        return { status: 200, body: await readApplication(params.organizationID, params.applicationID) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/organizations/{organizationID}/applications/{applicationID}',
      summary: 'Delete an application: its client id is refused from then on.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'delete' },
      request: { params: applicationPathSchema },
      // 204, not 202: like a service account's in the seed (200 with no body), the deletion is
      // complete when the answer is sent (the event is written and the read models have it), and
      // there is nothing to return; 202 would promise work still to come.
      responses: { 204: { description: 'The application is deleted.' } },
      handler: async ({ params, caller, requestId }) => {
        const result = await commands.delete(params.organizationID, params.applicationID, caller, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/applications/{applicationID}/secret',
      oneTimeSecret: true,
      summary: 'Rotate a confidential application\'s client secret; the new one is shown in this answer only, the old one stops working.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'update' },
      request: { params: applicationPathSchema },
      responses: { 200: { description: 'The application, with its new status.clientSecret.', schema: applicationReadSchema } },
      handler: async ({ params, caller, requestId }) => {
        const result = await commands.rotateSecret(params.organizationID, params.applicationID, caller, writes.meta(caller, requestId));
        await writes.settle(result.position);
        const application = await readApplication(params.organizationID, params.applicationID);
        return { status: 200, body: { ...application, status: { clientSecret: result.clientSecret } } };
      },
    }),
  ];
}
