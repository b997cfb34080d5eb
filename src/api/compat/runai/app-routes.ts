import { z } from 'zod';
import type { ApplicationCommands } from '../../../commands/application/handlers.js';
import type { ActiveApplication, ApplicationSettings } from '../../../domain/application/decider.js';
import { COMPAT_ROLE_IDS, type CompatRoleId } from '../../../domain/rbac/roles.js';
import type { CommandMetadata } from '../../../domain/shared/decider.js';
import { ConflictError, NotFoundError } from '../../../domain/shared/errors.js';
import { resourceNameSchema } from '../../../domain/shared/resource.js';
import type { SessionEnder } from '../../../processes/session-revocation.js';
import type { ReadModelStore } from '../../../ports/read-models.js';
import type { ApplicationDocument } from '../../../projections/applications/projection.js';
import { APPLICATIONS } from '../../../projections/applications/projection.js';
import type { AccessControl } from '../../auth/access-control.js';
import type { Caller } from '../../auth/caller.js';
import { ConflictHttpError, ForbiddenHttpError, InvalidRequestError, NotFoundHttpError } from '../../http/errors.js';
import { defineRoute } from '../../http/route.js';
import type { WriteContext } from '../../write-context.js';
import type { CompatTenancy } from '../tenancy.js';
import { K8S_DEPRECATED_SINCE } from './k8s-routes.js';
import type { RoleGroups } from './role-groups.js';
import { authEntityTypeSchema, compatRoleSchema, tenantIdSchema } from './schemas.js';
import { groupsById, rolesOf } from './users.js';

/**
 * The applications API of seed 003 (/api/v1/apps) and its deprecated
 * /v1/k8s/apps: a thin mapping onto the application commands and read model.
 * An app is an application (OAuth client) of the caller's organization that
 * signs in with client credentials; its roles are those of its groups.
 */

const TAGS = ['Applications (compatible, seed 003)'];
const K8S_TAGS = ['Deprecated k8s applications (compatible, seed 003)'];

const idSchema = z.string().min(1).max(128);
const appPath = z.object({ appId: idSchema });
const clientPath = z.object({ clientId: idSchema });

const appCreateSchema = z.object({ name: resourceNameSchema }).strict().meta({ id: 'AppCreationRequest' });
const appCreatedSchema = z.object({ id: z.string(), name: z.string(), secret: z.string() }).meta({ id: 'AppPostResponse' });
const appPatchSchema = z.object({ enabled: z.boolean() }).strict().meta({ id: 'AppPatchRequest' });
const appSecretSchema = z.object({ secret: z.string() }).meta({ id: 'AppSecret' });
const appSchema = z
  .object({
    name: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    enabled: z.boolean(),
    tenantId: tenantIdSchema,
    lastLogin: z.string().optional(),
    id: z.string(),
  })
  .meta({ id: 'App' });

const k8sAppWriteSchema = z
  .object({
    name: resourceNameSchema,
    roles: z.array(compatRoleSchema).max(COMPAT_ROLE_IDS.length).optional(),
    revoked: z.boolean().optional(),
    entityType: authEntityTypeSchema.optional(),
    tenantId: tenantIdSchema.optional(),
    permitAllClusters: z.boolean().optional(),
    permittedClusters: z.array(z.string().max(128)).max(1000).optional(),
    // Read-only: accepted and ignored, so that a client can send back what it read.
    userId: z.string().max(128).optional(),
    createdAt: z.string().max(64).optional(),
    createdBy: z.string().max(320).optional(),
    clientId: z.string().max(128).optional(),
  })
  .strict()
  .meta({ id: 'K8sAppWrite' });
type K8sAppWrite = z.infer<typeof k8sAppWriteSchema>;

const k8sAppSchema = z
  .object({
    entityType: authEntityTypeSchema,
    tenantId: tenantIdSchema,
    permitAllClusters: z.boolean(),
    permittedClusters: z.array(z.string()),
    roles: z.array(compatRoleSchema),
    createdAt: z.string(),
    createdBy: z.string(),
    clientId: z.string(),
    name: z.string(),
    revoked: z.boolean(),
    /** Only in the answers to a create and a secret regeneration: the client secret, once. */
    secret: z.string().optional(),
  })
  .meta({ id: 'K8sApp' });
const k8sRolesQuery = z
  .object({
    roles: z
      .union([compatRoleSchema, z.array(compatRoleSchema).max(COMPAT_ROLE_IDS.length)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional(),
    onlyCreatedByMe: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  })
  .strict();

/** A new app: a confidential client that signs in with client credentials (client_secret_basic or _post). */
const newAppSettings = (name: string, groupIDs: readonly string[] = [], enabled = true): ApplicationSettings => ({
  name,
  tags: [],
  redirectURIs: [],
  grantTypes: ['client_credentials'],
  public: false,
  enabled,
  groupIDs,
  platform: false,
  tokenEndpointAuthMethod: 'client_secret_basic',
});

/** The settings an update starts from: the application as it is. */
const settingsOf = (application: ActiveApplication): ApplicationSettings => {
  const { status: _status, id: _id, organizationId: _org, version: _version, hasSecret: _hasSecret, ...settings } = application;
  return settings;
};

export interface CompatAppDeps {
  readonly commands: ApplicationCommands;
  readonly readModels: ReadModelStore;
  readonly roleGroups: RoleGroups;
  readonly sessions: Pick<SessionEnder, 'ofClient'>;
  readonly writes: WriteContext;
  readonly access: AccessControl;
  readonly tenancy: CompatTenancy;
}

export function compatAppRoutes(deps: CompatAppDeps) {
  const { commands, readModels, roleGroups, sessions, writes, access, tenancy } = deps;
  const apps = () => readModels.collection<ApplicationDocument>(APPLICATIONS);

  const findApp = async (organizationId: string, appId: string): Promise<ApplicationDocument> => {
    const doc = await apps().findById(appId);
    if (!doc || doc.metadata.organizationId !== organizationId) throw new NotFoundHttpError(`app ${appId} not found`);
    return doc;
  };
  const current = async (organizationId: string, appId: string) => {
    try {
      return await commands.current(organizationId, appId);
    } catch (error) {
      if (error instanceof NotFoundError) throw new NotFoundHttpError(`app ${appId} not found`);
      throw error;
    }
  };
  const conflict = (name: string) => (error: unknown) => {
    if (error instanceof ConflictError) throw new ConflictHttpError(`an app named ${name} already exists`);
    throw error;
  };

  const toApp = (doc: ApplicationDocument, tenantId: number) => ({
    name: doc.metadata.name,
    createdBy: doc.metadata.createdBy ?? '',
    createdAt: doc.metadata.creationTime,
    updatedAt: doc.metadata.modifiedTime ?? doc.metadata.creationTime,
    enabled: doc.spec.enabled,
    tenantId,
    ...(doc.activity && { lastLogin: doc.activity.lastLogin }),
    id: doc.metadata.id,
  });

  const toK8sApps = async (organizationId: string, docs: readonly ApplicationDocument[], tenantId: number) => {
    const groups = await groupsById(readModels, organizationId, docs.flatMap((doc) => doc.spec.groupIDs));
    return docs.map((doc) => ({
      entityType: 'app' as const,
      tenantId,
      permitAllClusters: true,
      permittedClusters: [],
      roles: rolesOf(doc.spec.groupIDs, groups),
      createdAt: doc.metadata.creationTime,
      createdBy: doc.metadata.createdBy ?? '',
      clientId: doc.metadata.id,
      name: doc.metadata.name,
      revoked: !doc.spec.enabled,
    }));
  };
  const toK8sApp = async (organizationId: string, appId: string, tenantId: number) => (await toK8sApps(organizationId, [await findApp(organizationId, appId)], tenantId))[0]!;

  /** A disabled app's sessions end before the answer (as for .../applications). */
  const settleChange = async (appId: string, enabled: boolean, position: Parameters<WriteContext['settle']>[0], meta: CommandMetadata) =>
    writes.settle((enabled ? undefined : await sessions.ofClient(appId, meta, 'client_disabled')) ?? position);

  const create = async (organizationId: string, settings: ApplicationSettings, caller: Caller, meta: CommandMetadata) => {
    const result = await commands.create(organizationId, settings, caller, meta).catch(conflict(settings.name));
    await writes.settle(result.position);
    return { id: result.applicationId, secret: result.clientSecret! };
  };

  /**
   * Through its groups the app holds their roles: whoever hands out its
   * credentials (a new secret) or revives it (enables it) must be able to grant them.
   */
  const assertCanHold = async (caller: Caller, organizationId: string, groupIds: readonly string[]) => {
    if (groupIds.length === 0) return;
    const groups = await groupsById(readModels, organizationId, groupIds);
    await access.assertCanGrant(caller, organizationId, [...new Set([...groups.values()].flatMap((group) => group.spec.roleIDs))]);
  };

  const rotate = async (organizationId: string, appId: string, caller: Caller, meta: CommandMetadata) => {
    await assertCanHold(caller, organizationId, (await findApp(organizationId, appId)).spec.groupIDs);
    const result = await commands.rotateSecret(organizationId, appId, caller, meta);
    await writes.settle(result.position);
    return result.clientSecret;
  };

  /** The body's tenancy and cluster fields, checked as the k8s users' are. */
  const checkK8sBody = (body: K8sAppWrite, tenantId: number) => {
    if (body.tenantId !== undefined && body.tenantId !== tenantId) throw new ForbiddenHttpError(`tenantId ${body.tenantId} is not the caller's tenant`);
    if (body.permitAllClusters === false || (body.permittedClusters?.length ?? 0) > 0) {
      throw new InvalidRequestError('permitAllClusters/permittedClusters: cluster restrictions are not supported here; every app may reach every cluster (permitAllClusters: true)');
    }
    // entityType is accepted and ignored: the path says it is an app, and the seed's own request sample sends "regular-user".
  };

  /** The groups an app holding these roles is in: its role groups replaced, its other groups kept. */
  const groupsFor = async (organizationId: string, roles: readonly CompatRoleId[], keep: readonly string[], caller: Caller, requestId: string) => {
    await access.assertCanGrant(caller, organizationId, [...roles]);
    const roleGroupIds = await roleGroups.all(organizationId);
    const wanted = [...(await roleGroups.of(organizationId, roles, caller, requestId)).values()];
    return [...keep.filter((id) => !roleGroupIds.has(id)), ...wanted];
  };

  const deprecated = { since: K8S_DEPRECATED_SINCE, successor: '/api/v1/apps' };

  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/apps',
      organization: 'caller',
      summary: 'List the applications of the organization.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'read' },
      responses: { 200: { description: 'Executed successfully.', schema: z.array(appSchema).meta({ id: 'Apps' }) } },
      handler: async ({ organizationId, caller, requestId }) => {
        const tenantId = await tenancy.tenantIdOf(organizationId!, writes.meta(caller, requestId));
        const docs = await apps().find({ 'metadata.organizationId': organizationId! }, { sort: { 'metadata.name': 1, _id: 1 } });
        return { status: 200, body: docs.map((doc) => toApp(doc, tenantId)) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/apps',
      organization: 'caller',
      oneTimeSecret: true,
      summary: 'Create an application that signs in with client credentials; its secret is in this answer only.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'create' },
      request: { body: appCreateSchema },
      responses: { 201: { description: 'Executed successfully.', schema: appCreatedSchema } },
      handler: async ({ body, organizationId, caller, requestId }) => {
        const { id, secret } = await create(organizationId!, newAppSettings(body.name), caller, writes.meta(caller, requestId));
        return { status: 201, body: { id, name: body.name, secret }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    // Before /api/v1/apps/{appId}, so that "installer" is not read as an id.
    defineRoute({
      method: 'get',
      path: '/api/v1/apps/installer',
      organization: 'caller',
      summary: 'List the installer applications: this service makes none, so the list is empty.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'read' },
      responses: { 200: { description: 'Executed successfully.', schema: z.array(appCreatedSchema).meta({ id: 'InstallerApps' }) } },
      handler: async () => ({ status: 200, body: [] }),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/apps/{appId}',
      organization: 'caller',
      summary: 'Get an application.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'read' },
      request: { params: appPath },
      responses: { 200: { description: 'Executed successfully.', schema: appSchema } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const doc = await findApp(organizationId!, params.appId);
        return { status: 200, body: toApp(doc, await tenancy.tenantIdOf(organizationId!, writes.meta(caller, requestId))) };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/api/v1/apps/{appId}',
      organization: 'caller',
      summary: 'Enable or disable an application; disabling it ends its sessions.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'update' },
      request: { params: appPath, body: appPatchSchema },
      responses: { 200: { description: 'Executed successfully.', schema: appSchema } },
      handler: async ({ params, body, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const before = await current(org, params.appId);
        if (body.enabled) await assertCanHold(caller, org, before.groupIDs);
        const result = await commands.update(org, params.appId, { ...settingsOf(before), enabled: body.enabled }, caller, meta, before.version);
        await settleChange(params.appId, body.enabled, result.position, meta);
        return { status: 200, body: toApp(await findApp(org, params.appId), await tenancy.tenantIdOf(org, meta)) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/apps/{appId}',
      organization: 'caller',
      summary: 'Delete an application: its client id is refused from then on.',
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'delete' },
      request: { params: appPath },
      responses: { 204: { description: 'Executed successfully.' } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        await findApp(organizationId!, params.appId);
        await writes.settle((await commands.delete(organizationId!, params.appId, caller, writes.meta(caller, requestId))).position);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/apps/{appId}/secret',
      organization: 'caller',
      oneTimeSecret: true,
      summary: "Regenerate an application's secret: the new one is in this answer only, the old one stops working.",
      tags: TAGS,
      access: { family: 'identity:applications', operation: 'update' },
      request: { params: appPath },
      responses: { 200: { description: 'Regenerated successfully.', schema: appSecretSchema } },
      handler: async ({ params, organizationId, caller, requestId }) => ({
        status: 200,
        body: { secret: await rotate(organizationId!, params.appId, caller, writes.meta(caller, requestId)) },
        headers: { 'Cache-Control': 'no-store' },
      }),
    }),

    // The deprecated /v1/k8s/apps.
    defineRoute({
      method: 'get',
      path: '/v1/k8s/apps',
      organization: 'caller',
      deprecated,
      summary: 'List the apps of the tenant with their roles (deprecated: use /api/v1/apps).',
      tags: K8S_TAGS,
      access: { family: 'identity:applications', operation: 'read' },
      request: { query: k8sRolesQuery },
      responses: { 200: { description: 'The apps.', schema: z.array(k8sAppSchema) } },
      handler: async ({ query, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const tenantId = await tenancy.tenantIdOf(org, writes.meta(caller, requestId));
        const mine = query.onlyCreatedByMe ? { 'metadata.createdBy': caller.subject } : {};
        const docs = await apps().find({ 'metadata.organizationId': org, ...mine }, { sort: { 'metadata.name': 1, _id: 1 } });
        const wanted = query.roles ?? [];
        return { status: 200, body: (await toK8sApps(org, docs, tenantId)).filter((app) => wanted.length === 0 || app.roles.some((role) => wanted.includes(role))) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/k8s/apps',
      organization: 'caller',
      deprecated,
      oneTimeSecret: true,
      summary: 'Create an app with roles; its client secret is in this answer only (deprecated: use /api/v1/apps).',
      tags: K8S_TAGS,
      access: { family: 'identity:applications', operation: 'create' },
      request: { body: k8sAppWriteSchema },
      responses: { 200: { description: 'The app, with its secret.', schema: k8sAppSchema } },
      handler: async ({ body, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const tenantId = await tenancy.tenantIdOf(org, meta);
        checkK8sBody(body, tenantId);
        const groupIDs = await groupsFor(org, body.roles ?? [], [], caller, requestId);
        const { id, secret } = await create(org, newAppSettings(body.name, groupIDs, body.revoked !== true), caller, meta);
        return { status: 200, body: { ...(await toK8sApp(org, id, tenantId)), secret }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/k8s/apps/{clientId}',
      organization: 'caller',
      deprecated,
      summary: 'Get an app (deprecated: use /api/v1/apps/{appId}).',
      tags: K8S_TAGS,
      access: { family: 'identity:applications', operation: 'read' },
      request: { params: clientPath },
      responses: { 200: { description: 'App details.', schema: k8sAppSchema } },
      handler: async ({ params, organizationId, caller, requestId }) => ({
        status: 200,
        body: await toK8sApp(organizationId!, params.clientId, await tenancy.tenantIdOf(organizationId!, writes.meta(caller, requestId))),
      }),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/k8s/apps/{clientId}',
      organization: 'caller',
      deprecated,
      summary: "Update an app's name, roles and revoked flag (deprecated).",
      tags: K8S_TAGS,
      access: { family: 'identity:applications', operation: 'update' },
      request: { params: clientPath, body: k8sAppWriteSchema },
      responses: { 200: { description: 'App updated successfully.', schema: k8sAppSchema } },
      handler: async ({ params, body, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const tenantId = await tenancy.tenantIdOf(org, meta);
        const before = await current(org, params.clientId);
        checkK8sBody(body, tenantId);
        const settings = settingsOf(before);
        const groupIDs = body.roles === undefined ? settings.groupIDs : await groupsFor(org, body.roles, settings.groupIDs, caller, requestId);
        const enabled = body.revoked === undefined ? settings.enabled : !body.revoked;
        if (enabled) await assertCanHold(caller, org, groupIDs);
        const result = await commands.update(org, params.clientId, { ...settings, name: body.name, groupIDs, enabled }, caller, meta, before.version).catch(conflict(body.name));
        await settleChange(params.clientId, enabled, result.position, meta);
        return { status: 200, body: await toK8sApp(org, params.clientId, tenantId) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/k8s/apps/{clientId}',
      organization: 'caller',
      deprecated,
      summary: 'Delete an app (deprecated: use DELETE /api/v1/apps/{appId}).',
      tags: K8S_TAGS,
      access: { family: 'identity:applications', operation: 'delete' },
      request: { params: clientPath },
      responses: { 200: { description: 'App deleted successfully.' } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        await findApp(organizationId!, params.clientId);
        await writes.settle((await commands.delete(organizationId!, params.clientId, caller, writes.meta(caller, requestId))).position);
        return { status: 200 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/k8s/apps/{clientId}/secret',
      organization: 'caller',
      deprecated,
      oneTimeSecret: true,
      summary: "Regenerate an app's secret: the app, with its new secret in this answer only (deprecated).",
      tags: K8S_TAGS,
      access: { family: 'identity:applications', operation: 'update' },
      request: { params: clientPath },
      responses: { 200: { description: 'The secret generated successfully.', schema: k8sAppSchema } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const secret = await rotate(org, params.clientId, caller, meta);
        return { status: 200, body: { ...(await toK8sApp(org, params.clientId, await tenancy.tenantIdOf(org, meta))), secret }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
  ];
}
