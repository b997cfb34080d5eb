import type { ServiceAccountCommands } from '../../commands/service-account/handlers.js';
import { SERVICE_ACCOUNT_FIELDS, type ServiceAccountQueries } from '../../projections/service-accounts/queries.js';
import type { AccessControl } from '../auth/access-control.js';
import type { Caller } from '../auth/caller.js';
import { InvalidRequestError, NotFoundHttpError } from '../http/errors.js';
import { listQuerySchema, listReply } from '../http/list-query.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';
import type { WriteContext } from '../write-context.js';
import {
  serviceAccountCreateSchema,
  serviceAccountPathSchema,
  serviceAccountReadSchema,
  serviceAccountsSchema,
  serviceAccountWriteSchema,
  type ServiceAccountWrite,
} from './schemas.js';

const TAGS = ['serviceaccounts'];
const FAMILY = 'identity:serviceaccounts';

const toDetails = ({ metadata }: ServiceAccountWrite) => ({ name: metadata.name, description: metadata.description, tags: metadata.tags ?? [] });
const groupIdsOf = ({ spec }: ServiceAccountWrite) => [...new Set(spec?.groupIDs ?? [])];

export function serviceAccountRoutes(deps: {
  commands: ServiceAccountCommands;
  queries: ServiceAccountQueries;
  access: AccessControl;
  writes: WriteContext;
}) {
  const { commands, queries, access, writes } = deps;

  const readAfterWrite = async (organizationId: string, serviceAccountId: string) => {
    const account = await queries.get(organizationId, serviceAccountId);
    if (!account) throw new NotFoundHttpError(`service account ${serviceAccountId} not found`);
    return account;
  };

  /**
   * The groups must exist in the organization, and joining one must not hand
   * the account a role the caller does not hold itself (escalation through a
   * service account). Groups it is already in are not checked again.
   */
  const checkGroups = async (caller: Caller, organizationId: string, groupIds: readonly string[], serviceAccountId?: string) => {
    const groups = await queries.groups(organizationId, groupIds);
    const missing = groupIds.filter((id) => !groups.some((group) => group.id === id));
    if (missing.length > 0) throw new InvalidRequestError(`spec.groupIDs: no group ${missing.join(', ')} in this organization`);
    const joining = groups.filter((group) => serviceAccountId === undefined || !group.serviceAccountIDs.includes(serviceAccountId));
    await access.assertCanGrant(caller, organizationId, [...new Set(joining.flatMap((group) => group.roleIDs))]);
  };

  /** A service account may rotate its own token; anyone else needs update on service accounts. */
  const mayRotate = async (caller: Caller, organizationId: string, serviceAccountId: string) => {
    const self = caller.kind === 'service_account' && caller.principalId === serviceAccountId && caller.organizationId === organizationId;
    if (!self) await access.require(caller, { organizationId }, FAMILY, 'update');
  };

  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/serviceaccounts',
      timeTravel: true,
      summary: 'List the service accounts of an organization.',
      tags: TAGS,
      access: { family: FAMILY, operation: 'read' },
      request: { params: organizationPathSchema, query: listQuerySchema },
      responses: { 200: { description: 'A list of service accounts.', schema: serviceAccountsSchema } },
      filterable: SERVICE_ACCOUNT_FIELDS,
      handler: async ({ params, query }) => listReply(await queries.list(params.organizationID, query)),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/serviceaccounts',
      oneTimeSecret: true,
      summary: 'Create a service account; the answer holds its access token, which is never shown again.',
      tags: TAGS,
      access: { family: FAMILY, operation: 'create' },
      request: { params: organizationPathSchema, body: serviceAccountWriteSchema },
      responses: { 201: { description: 'The service account, with its access token.', schema: serviceAccountCreateSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const organizationId = params.organizationID;
        const groupIds = groupIdsOf(body);
        await checkGroups(caller, organizationId, groupIds);
        const created = await commands.create(organizationId, toDetails(body), groupIds, writes.meta(caller, requestId));
        await writes.settle(created.position);
        const account = await readAfterWrite(organizationId, created.serviceAccountId);
        return { status: 201, body: { ...account, status: { ...account.status, accessToken: created.token } } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/serviceaccounts/{serviceAccountID}',
      timeTravel: true,
      history: { kind: 'serviceAccount', idParam: 'serviceAccountID' },
      summary: 'Get a service account (never its token).',
      tags: TAGS,
      access: { family: FAMILY, operation: 'read' },
      request: { params: serviceAccountPathSchema },
      responses: { 200: { description: 'A service account.', schema: serviceAccountReadSchema } },
      handler: async ({ params }) => ({ status: 200, body: await readAfterWrite(params.organizationID, params.serviceAccountID) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/organizations/{organizationID}/serviceaccounts/{serviceAccountID}',
      summary: 'Update a service account: its metadata and the groups it belongs to.',
      tags: TAGS,
      access: { family: FAMILY, operation: 'update' },
      request: { params: serviceAccountPathSchema, body: serviceAccountWriteSchema },
      responses: { 200: { description: 'The updated service account.', schema: serviceAccountReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const { organizationID: organizationId, serviceAccountID: serviceAccountId } = params;
        await readAfterWrite(organizationId, serviceAccountId); // 404 before judging the body's groups
        const groupIds = groupIdsOf(body);
        await checkGroups(caller, organizationId, groupIds, serviceAccountId);
        const result = await commands.update(organizationId, serviceAccountId, toDetails(body), groupIds, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200, body: await readAfterWrite(organizationId, serviceAccountId) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/organizations/{organizationID}/serviceaccounts/{serviceAccountID}',
      summary: 'Delete a service account; its token stops working at once.',
      tags: TAGS,
      access: { family: FAMILY, operation: 'delete' },
      request: { params: serviceAccountPathSchema },
      responses: { 200: { description: 'Service account removed and access token revoked.' } },
      handler: async ({ params, caller, requestId }) => {
        const result = await commands.delete(params.organizationID, params.serviceAccountID, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/serviceaccounts/{serviceAccountID}/rotate',
      oneTimeSecret: true,
      summary: "Rotate a service account's token: the old one stops working at once; the new one is shown only here.",
      tags: TAGS,
      // Checked in the handler: the account itself may, or whoever may update service accounts.
      access: 'authenticated',
      request: { params: serviceAccountPathSchema },
      responses: { 200: { description: 'The service account, with its new access token.', schema: serviceAccountCreateSchema } },
      handler: async ({ params, caller, requestId }) => {
        const { organizationID: organizationId, serviceAccountID: serviceAccountId } = params;
        await mayRotate(caller, organizationId, serviceAccountId);
        const rotated = await commands.rotate(organizationId, serviceAccountId, writes.meta(caller, requestId));
        await writes.settle(rotated.position);
        const account = await readAfterWrite(organizationId, serviceAccountId);
        return { status: 200, body: { ...account, status: { ...account.status, accessToken: rotated.token } } };
      },
    }),
  ];
}
