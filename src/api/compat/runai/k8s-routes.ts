import { z } from 'zod';
import type { CredentialCommands } from '../../../commands/credentials/handlers.js';
import type { GroupCommands } from '../../../commands/group/handlers.js';
import type { UserCommands } from '../../../commands/user/handlers.js';
import { COMPAT_ROLE_IDS, type CompatRoleId } from '../../../domain/rbac/roles.js';
import { ConflictError } from '../../../domain/shared/errors.js';
import { resourceNameSchema } from '../../../domain/shared/resource.js';
import type { SessionEnder } from '../../../processes/session-revocation.js';
import type { Filter, ReadModelStore } from '../../../ports/read-models.js';
import { GROUPS, type GroupDocument } from '../../../projections/groups/projection.js';
import { USERS, type UserDocument } from '../../../projections/users/projection.js';
import type { AccessControl } from '../../auth/access-control.js';
import type { Caller } from '../../auth/caller.js';
import { ConflictHttpError, ForbiddenHttpError, InvalidRequestError, NotFoundHttpError } from '../../http/errors.js';
import { defineRoute } from '../../http/route.js';
import type { WriteContext } from '../../write-context.js';
import type { CompatTenancy } from '../tenancy.js';
import { isCompatRole, RoleGroups } from './role-groups.js';
import { authEntityTypeSchema, type CompatUser, compatRoleSchema, seedEmailSchema, tenantIdSchema } from './schemas.js';
import { type CompatUserQueries, nameFromEmail } from './users.js';

/**
 * The deprecated /v1/k8s/users and /v1/k8s/groups of seeds 000 and 003, in
 * the caller's organization. A k8s user is one of our users; its `roles` are
 * the compatible roles of its groups, and setting them puts it in (or takes it
 * out of) one group per role, `runai-role-<role>`, bound to that role. A k8s
 * group is one of our groups; its `roles` are the group's role bindings.
 */

const TAGS = ['Deprecated k8s users and groups (compatible, seeds 000 and 003)'];
/** When these paths were deprecated (sent as Deprecation: @<unix seconds>, RFC 9745). */
export const K8S_DEPRECATED_SINCE = '2024-10-01T00:00:00Z';

export { ROLE_GROUP_PREFIX } from './role-groups.js';

const idSchema = z.string().min(1).max(128);
const trueOrFalse = z.enum(['true', 'false']).transform((v) => v === 'true');
const rolesQuery = z
  .union([compatRoleSchema, z.array(compatRoleSchema).max(COMPAT_ROLE_IDS.length)])
  .transform((v) => (Array.isArray(v) ? v : [v]));

const listQuerySchema = z
  .object({
    roles: rolesQuery.optional().meta({ description: 'Only those holding one of these roles.' }),
    onlyCreatedByMe: trueOrFalse.optional().meta({ description: 'Only those the caller created.' }),
  })
  .strict();
const usersListQuerySchema = listQuerySchema.extend({ usersType: z.enum(['sso-user', 'regular-user']).optional() }).strict();

/** Fields every AuthEntity body may carry: the cluster ones are checked, the read-only ones accepted and ignored. */
const authEntityWrite = {
  entityType: authEntityTypeSchema.optional(),
  tenantId: tenantIdSchema.optional(),
  userId: z.string().max(128).optional(),
  permitAllClusters: z.boolean().optional(),
  permittedClusters: z.array(z.string().max(128)).max(1000).optional(),
  roles: z.array(compatRoleSchema).max(COMPAT_ROLE_IDS.length).optional(),
  createdAt: z.string().max(64).optional(),
  createdBy: z.string().max(320).optional(),
};

const k8sUserWriteSchema = z
  .object({
    ...authEntityWrite,
    email: seedEmailSchema,
    password: z.string().min(1).max(256).optional(),
    needToChangePassword: z.boolean().optional(),
    lastLogin: z.string().max(64).optional(),
  })
  .strict()
  .meta({ id: 'K8sUserWrite' });
type K8sUserWrite = z.infer<typeof k8sUserWriteSchema>;

const k8sGroupWriteSchema = z
  .object({ ...authEntityWrite, name: resourceNameSchema, email: z.string().max(320).optional() })
  .strict()
  .meta({ id: 'K8sGroupWrite' });
type K8sGroupWrite = z.infer<typeof k8sGroupWriteSchema>;

const authEntityRead = {
  entityType: authEntityTypeSchema,
  tenantId: tenantIdSchema,
  permitAllClusters: z.boolean(),
  permittedClusters: z.array(z.string()),
  roles: z.array(compatRoleSchema),
  createdAt: z.string(),
  createdBy: z.string(),
};

const k8sUserSchema = z
  .object({
    ...authEntityRead,
    userId: z.string(),
    email: z.string(),
    lastLogin: z.string().optional(),
    needToChangePassword: z.boolean(),
    /** Only in the answer to a create without a password: the generated temporary one, once. */
    tempPassword: z.string().optional(),
  })
  .meta({ id: 'K8sUser' });
const k8sGroupSchema = z.object({ ...authEntityRead, id: z.string(), name: z.string() }).meta({ id: 'K8sGroup' });


export interface K8sDeps {
  readonly users: UserCommands;
  readonly groups: GroupCommands;
  readonly userQueries: CompatUserQueries;
  readonly readModels: ReadModelStore;
  readonly passwords: CredentialCommands;
  readonly sessions: Pick<SessionEnder, 'ofUser'>;
  readonly writes: WriteContext;
  readonly access: AccessControl;
  readonly tenancy: CompatTenancy;
}

export function k8sRoutes(deps: K8sDeps) {
  const { users, groups, userQueries, readModels, passwords, sessions, writes, access, tenancy } = deps;
  const groupDocs = () => readModels.collection<GroupDocument>(GROUPS);
  const userDocs = () => readModels.collection<UserDocument>(USERS);

  /** The body's tenancy and cluster fields, checked: another tenant's id is a 403; cluster restrictions are not modelled. */
  const checkEntity = (body: { tenantId?: number | undefined; permitAllClusters?: boolean | undefined; permittedClusters?: string[] | undefined }, tenantId: number) => {
    if (body.tenantId !== undefined && body.tenantId !== tenantId) throw new ForbiddenHttpError(`tenantId ${body.tenantId} is not the caller's tenant`);
    if (body.permitAllClusters === false || (body.permittedClusters?.length ?? 0) > 0) {
      throw new InvalidRequestError('permitAllClusters/permittedClusters: cluster restrictions are not supported here; every member may reach every cluster (permitAllClusters: true)');
    }
  };

  const roleGroupsOf = new RoleGroups(groups, readModels, writes);
  const roleGroups = (organizationId: string, roles: readonly CompatRoleId[], caller: Caller, requestId: string) => roleGroupsOf.of(organizationId, roles, caller, requestId);
  const allRoleGroupIds = async (organizationId: string): Promise<Set<string>> => new Set((await roleGroupsOf.all(organizationId)).keys());

  const toK8sUser = async (organizationId: string, userId: string, tenantId: number) => {
    const user = await userQueries.get(organizationId, userId, tenantId);
    if (!user) throw new NotFoundHttpError(`user ${userId} not found`);
    return asK8sUser(user);
  };

  const asK8sUser = (user: CompatUser) => {
    const tenantId = user.tenantId;
    return {
      entityType: user.entityType,
      tenantId,
      userId: user.id,
      permitAllClusters: true,
      permittedClusters: [],
      roles: user.roles,
      createdAt: user.creationTime,
      createdBy: user.createdBy,
      email: user.email,
      ...(user.lastLogin !== undefined && { lastLogin: user.lastLogin }),
      needToChangePassword: user.needToChangePassword,
    };
  };

  const toK8sGroup = (doc: GroupDocument, tenantId: number) => ({
    entityType: 'group' as const,
    tenantId,
    id: doc.metadata.id,
    name: doc.metadata.name,
    permitAllClusters: true,
    permittedClusters: [],
    roles: doc.spec.roleIDs.filter(isCompatRole).sort(),
    createdAt: doc.metadata.creationTime,
    createdBy: doc.metadata.createdBy ?? '',
  });

  /** A group of the organization by its name (as the seed addresses groups) or its id. */
  const findGroup = async (organizationId: string, nameOrId: string): Promise<GroupDocument> => {
    const byName = await groupDocs().findOne({ 'metadata.organizationId': organizationId, 'metadata.name': nameOrId });
    const doc = byName ?? (await groupDocs().findById(nameOrId));
    if (!doc || doc.metadata.organizationId !== organizationId) throw new NotFoundHttpError(`group ${nameOrId} not found`);
    return doc;
  };

  const createdByMe = (caller: Caller, only: boolean | undefined): Filter => (only ? { 'metadata.createdBy': caller.subject } : {});
  const holdsAny = (roles: readonly string[] | undefined) => (entity: { roles: readonly string[] }) =>
    roles === undefined || roles.length === 0 || entity.roles.some((role) => roles.includes(role));

  const deprecatedUsers = { since: K8S_DEPRECATED_SINCE, successor: '/api/v1/users' };
  const deprecatedGroups = { since: K8S_DEPRECATED_SINCE, successor: '/api/v1/organizations/{organizationID}/groups' };
  const userPath = z.object({ userId: idSchema });
  const groupPath = z.object({ groupName: idSchema });

  const setUserPassword = async (organizationId: string, userId: string, body: K8sUserWrite, meta: ReturnType<WriteContext['meta']>) =>
    body.password === undefined ? undefined : passwords.setPassword({ userId, organizationId }, body.password, body.needToChangePassword ?? false, meta);

  return [
    defineRoute({
      method: 'get',
      path: '/v1/k8s/users',
      organization: 'caller',
      deprecated: deprecatedUsers,
      summary: 'List the users of the tenant (deprecated: use /api/v1/users).',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { query: usersListQuerySchema },
      responses: { 200: { description: 'The users.', schema: z.array(k8sUserSchema) } },
      handler: async ({ query, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const tenantId = await tenancy.tenantIdOf(org, writes.meta(caller, requestId));
        const type = query.usersType === undefined ? {} : { 'status.identities': { $exists: query.usersType === 'sso-user' } };
        const all = await userQueries.all(org, { 'metadata.organizationId': org, ...createdByMe(caller, query.onlyCreatedByMe), ...type }, tenantId);
        return { status: 200, body: all.filter(holdsAny(query.roles)).map(asK8sUser) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/k8s/users',
      organization: 'caller',
      deprecated: deprecatedUsers,
      oneTimeSecret: true,
      summary: 'Create a user with roles (deprecated: use /api/v1/users). Without a password, a temporary one is generated and answered once.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'create' },
      request: { body: k8sUserWriteSchema },
      responses: { 200: { description: 'The user.', schema: k8sUserSchema } },
      handler: async ({ body, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const tenantId = await tenancy.tenantIdOf(org, meta);
        checkEntity(body, tenantId);
        if (body.entityType !== undefined && body.entityType !== 'regular-user') {
          throw new InvalidRequestError(`entityType: only regular-user can be created here (an sso-user comes with its first federated login)`);
        }
        if (body.password !== undefined) await passwords.checkPassword(org, body.password, { names: [body.email] });
        const roles = body.roles ?? [];
        await access.assertCanGrant(caller, org, roles);
        const groupIDs = [...(await roleGroups(org, roles, caller, requestId)).values()];
        let userId: string;
        try {
          ({ userId } = await users.create(org, { name: nameFromEmail(body.email), tags: [], subject: body.email, state: 'active', groupIDs }, meta, (ids) => access.assertCanGrant(caller, org, ids)));
        } catch (error) {
          if (error instanceof ConflictError) throw new ConflictHttpError(`a user with email ${body.email} already exists`);
          throw error;
        }
        const temporary = body.password === undefined ? await passwords.setTemporaryPassword({ userId, organizationId: org }, meta) : undefined;
        const tempPassword = temporary?.tempPassword;
        const position = temporary !== undefined ? temporary.position : await setUserPassword(org, userId, body, meta);
        await writes.settle(position);
        const user = await toK8sUser(org, userId, tenantId);
        return { status: 200, body: tempPassword === undefined ? user : { ...user, tempPassword }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/k8s/users/{userId}',
      organization: 'caller',
      deprecated: deprecatedUsers,
      summary: 'Get a user (deprecated: use /api/v1/users/{userId}).',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { params: userPath },
      responses: { 200: { description: 'User details.', schema: k8sUserSchema } },
      handler: async ({ params, organizationId, caller, requestId }) => ({
        status: 200,
        body: await toK8sUser(organizationId!, params.userId, await tenancy.tenantIdOf(organizationId!, writes.meta(caller, requestId))),
      }),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/k8s/users/{userId}',
      organization: 'caller',
      deprecated: deprecatedUsers,
      summary: "Update a user's email, roles and password (deprecated).",
      tags: TAGS,
      access: { family: 'identity:users', operation: 'update' },
      request: { params: userPath, body: k8sUserWriteSchema },
      responses: { 200: { description: 'User updated successfully.', schema: k8sUserSchema } },
      handler: async ({ params, body, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const tenantId = await tenancy.tenantIdOf(org, meta);
        const doc = await userDocs().findById(params.userId);
        if (!doc || doc.metadata.organizationId !== org) throw new NotFoundHttpError(`user ${params.userId} not found`);
        checkEntity(body, tenantId);
        if (body.password !== undefined) await passwords.checkPassword(org, body.password, { names: [body.email, doc.metadata.name], userId: doc.metadata.id });
        let groupIDs: string[] | undefined;
        if (body.roles !== undefined) {
          await access.assertCanGrant(caller, org, body.roles);
          const roleGroupIds = await allRoleGroupIds(org);
          const wanted = [...(await roleGroups(org, body.roles, caller, requestId)).values()];
          groupIDs = [...doc.spec.groupIDs.filter((id) => !roleGroupIds.has(id)), ...wanted];
        }
        const details = {
          name: doc.metadata.name,
          ...(doc.metadata.description !== undefined && { description: doc.metadata.description }),
          tags: doc.metadata.tags ?? [],
          subject: body.email,
          state: doc.spec.state,
          ...(groupIDs !== undefined && { groupIDs }),
        };
        let result;
        try {
          result = await users.update(org, params.userId, details, meta, (ids) => access.assertCanGrant(caller, org, ids));
        } catch (error) {
          if (error instanceof ConflictError) throw new ConflictHttpError(`a user with email ${body.email} already exists`);
          throw error;
        }
        await writes.settle((await setUserPassword(org, params.userId, body, meta)) ?? result.position);
        return { status: 200, body: await toK8sUser(org, params.userId, tenantId) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/k8s/users/{userId}',
      organization: 'caller',
      deprecated: deprecatedUsers,
      summary: 'Delete a user (deprecated: use DELETE /api/v1/users/{userId}).',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'delete' },
      request: { params: userPath },
      responses: { 200: { description: 'User deleted successfully.' } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const meta = writes.meta(caller, requestId);
        await writes.settle((await users.delete(organizationId!, params.userId, meta)).position);
        await writes.settle(await sessions.ofUser(params.userId, meta));
        return { status: 200 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/k8s/groups',
      organization: 'caller',
      deprecated: deprecatedGroups,
      summary: 'List the groups of the tenant with their roles (deprecated).',
      tags: TAGS,
      access: { family: 'identity:groups', operation: 'read' },
      request: { query: listQuerySchema },
      responses: { 200: { description: 'The groups.', schema: z.array(k8sGroupSchema) } },
      handler: async ({ query, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const tenantId = await tenancy.tenantIdOf(org, writes.meta(caller, requestId));
        const docs = await groupDocs().find({ 'metadata.organizationId': org, ...createdByMe(caller, query.onlyCreatedByMe) }, { sort: { 'metadata.name': 1, _id: 1 } });
        return { status: 200, body: docs.map((doc) => toK8sGroup(doc, tenantId)).filter(holdsAny(query.roles)) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/k8s/groups',
      organization: 'caller',
      deprecated: deprecatedGroups,
      summary: 'Create a group bound to roles (deprecated).',
      tags: TAGS,
      access: { family: 'identity:groups', operation: 'create' },
      request: { body: k8sGroupWriteSchema },
      responses: { 200: { description: 'The group.', schema: k8sGroupSchema } },
      handler: async ({ body, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const tenantId = await tenancy.tenantIdOf(org, meta);
        checkGroupBody(body, tenantId);
        const roles = body.roles ?? [];
        await access.assertCanGrant(caller, org, roles);
        let result;
        try {
          result = await groups.create(org, { name: body.name, tags: [], roleIDs: roles, userIDs: [], serviceAccountIDs: [] }, meta);
        } catch (error) {
          if (error instanceof ConflictError) throw new ConflictHttpError(`a group named ${body.name} already exists`);
          throw error;
        }
        await writes.settle(result.position);
        if (result.state.status !== 'active') throw new Error('group was not created');
        return { status: 200, body: toK8sGroup(await findGroup(org, result.state.id), tenantId) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/k8s/groups/{groupName}',
      organization: 'caller',
      deprecated: deprecatedGroups,
      summary: 'Get a group by its name (deprecated).',
      tags: TAGS,
      access: { family: 'identity:groups', operation: 'read' },
      request: { params: groupPath },
      responses: { 200: { description: 'Group details.', schema: k8sGroupSchema } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const tenantId = await tenancy.tenantIdOf(organizationId!, writes.meta(caller, requestId));
        return { status: 200, body: toK8sGroup(await findGroup(organizationId!, params.groupName), tenantId) };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/k8s/groups/{groupName}',
      organization: 'caller',
      deprecated: deprecatedGroups,
      summary: "Update a group's name and roles; its members stay (deprecated).",
      tags: TAGS,
      access: { family: 'identity:groups', operation: 'update' },
      request: { params: groupPath, body: k8sGroupWriteSchema },
      responses: { 200: { description: 'Group updated successfully.', schema: k8sGroupSchema } },
      handler: async ({ params, body, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const tenantId = await tenancy.tenantIdOf(org, meta);
        const doc = await findGroup(org, params.groupName);
        checkGroupBody(body, tenantId);
        // The compatible roles are replaced; other roles the group holds (administrator, reader, user) stay.
        const roleIDs = body.roles === undefined ? doc.spec.roleIDs : [...doc.spec.roleIDs.filter((id) => !isCompatRole(id)), ...new Set(body.roles)];
        // Members keep the group's roles: the caller must be able to grant all of them.
        await access.assertCanGrant(caller, org, roleIDs);
        let result;
        try {
          result = await groups.update(
            org,
            doc.metadata.id,
            {
              name: body.name,
              ...(doc.metadata.description !== undefined && { description: doc.metadata.description }),
              tags: doc.metadata.tags ?? [],
              roleIDs,
              userIDs: doc.spec.userIDs,
              serviceAccountIDs: doc.spec.serviceAccountIDs,
            },
            meta,
          );
        } catch (error) {
          if (error instanceof ConflictError) throw new ConflictHttpError(`a group named ${body.name} already exists`);
          throw error;
        }
        await writes.settle(result.position);
        return { status: 200, body: toK8sGroup(await findGroup(org, doc.metadata.id), tenantId) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/k8s/groups/{groupName}',
      organization: 'caller',
      deprecated: deprecatedGroups,
      summary: 'Delete a group; its members lose its roles (deprecated).',
      tags: TAGS,
      access: { family: 'identity:groups', operation: 'delete' },
      request: { params: groupPath },
      responses: { 200: { description: 'Group deleted successfully.' } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const doc = await findGroup(organizationId!, params.groupName);
        await writes.settle((await groups.delete(organizationId!, doc.metadata.id, writes.meta(caller, requestId))).position);
        return { status: 200 };
      },
    }),
  ];

  function checkGroupBody(body: K8sGroupWrite, tenantId: number) {
    checkEntity(body, tenantId);
    if (body.entityType !== undefined && body.entityType !== 'group') throw new InvalidRequestError(`entityType: a group's is "group"`);
  }
}
