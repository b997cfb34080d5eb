import type { CredentialCommands } from '../../../commands/credentials/handlers.js';
import type { UserCommands } from '../../../commands/user/handlers.js';
import { ConflictError } from '../../../domain/shared/errors.js';
import type { SessionEnder } from '../../../processes/session-revocation.js';
import type { AccessControl } from '../../auth/access-control.js';
import { ConflictHttpError, InvalidRequestError, NotFoundHttpError } from '../../http/errors.js';
import { TOTAL_COUNT_HEADER } from '../../http/list-query.js';
import { defineRoute } from '../../http/route.js';
import type { WriteContext } from '../../write-context.js';
import type { CompatTenancy } from '../tenancy.js';
import {
  compatUserSchema,
  compatUsersSchema,
  tempPasswordSchema,
  userCreatedSchema,
  userCreateRequestSchema,
  userIdPathSchema,
  usersCountQuerySchema,
  usersCountSchema,
  usersQuerySchema,
} from './schemas.js';
import { type CompatUserQueries, nameFromEmail, usersFilter, usersSort } from './users.js';

const TAGS = ['Users (compatible, seed 000)'];

// Temporary passwords: made up by CredentialCommands.setTemporaryPassword to satisfy the organization's password policy.

export interface CompatUserDeps {
  readonly commands: UserCommands;
  readonly users: CompatUserQueries;
  readonly passwords: CredentialCommands;
  readonly sessions: Pick<SessionEnder, 'ofUser'>;
  readonly writes: WriteContext;
  readonly access: AccessControl;
  readonly tenancy: CompatTenancy;
}

/**
 * The users API of seed 000 (/api/v1/users): a thin mapping onto the user and
 * credential commands and the users read model, in the caller's organization.
 */
export function compatUserRoutes(deps: CompatUserDeps) {
  const { commands, users, passwords, sessions, writes, access, tenancy } = deps;

  const readUser = async (organizationId: string, userId: string, tenantId: number) => {
    const user = await users.get(organizationId, userId, tenantId);
    if (!user) throw new NotFoundHttpError(`user ${userId} not found`);
    return user;
  };

  return [
    // Before /api/v1/users/{userId}, so that "count" is not read as an id.
    defineRoute({
      method: 'get',
      path: '/api/v1/users/count',
      organization: 'caller',
      summary: 'Count the users that match the filters.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { query: usersCountQuerySchema },
      responses: { 200: { description: 'The number of matching users.', schema: usersCountSchema } },
      handler: async ({ query, organizationId }) => ({ status: 200, body: { count: await users.count(usersFilter(organizationId!, query)) } }),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/users',
      organization: 'caller',
      summary: 'List the users of the organization (filterBy, filter, sortBy, sortOrder, offset, limit, search).',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { query: usersQuerySchema },
      responses: { 200: { description: 'Executed successfully.', schema: compatUsersSchema } },
      handler: async ({ query, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const tenantId = await tenancy.tenantIdOf(org, writes.meta(caller, requestId));
        const filter = usersFilter(org, query);
        const [items, total] = await Promise.all([users.page(org, filter, usersSort(query), query.offset, query.limit, tenantId), users.count(filter)]);
        return { status: 200, body: items, headers: { [TOTAL_COUNT_HEADER]: String(total) } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/users',
      organization: 'caller',
      oneTimeSecret: true,
      summary: 'Create a local user: answers its temporary password once; the user chooses its own at the first login.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'create' },
      request: { body: userCreateRequestSchema },
      responses: { 201: { description: 'Created successfully.', schema: userCreatedSchema } },
      handler: async ({ body, organizationId, caller, requestId }) => {
        if (body.notify === true) throw new InvalidRequestError('notify: this service does not mail passwords; hand the temporary password in the answer to the user');
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        let userId: string;
        try {
          const input = { name: nameFromEmail(body.email), tags: [], subject: body.email, state: 'active' as const };
          ({ userId } = await commands.create(org, input, meta, (roles) => access.assertCanGrant(caller, org, roles)));
        } catch (error) {
          if (error instanceof ConflictError) throw new ConflictHttpError(`a user with email ${body.email} already exists`);
          throw error;
        }
        const { tempPassword, position } = await passwords.setTemporaryPassword({ userId, organizationId: org }, meta);
        await writes.settle(position);
        return { status: 201, body: { id: userId, username: body.email, tempPassword }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/users/{userId}',
      organization: 'caller',
      summary: 'Get a user.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { params: userIdPathSchema },
      responses: { 200: { description: 'Executed successfully.', schema: compatUserSchema } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const tenantId = await tenancy.tenantIdOf(organizationId!, writes.meta(caller, requestId));
        return { status: 200, body: await readUser(organizationId!, params.userId, tenantId) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/users/{userId}',
      organization: 'caller',
      summary: 'Delete a user: it leaves every group and its sessions end.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'delete' },
      request: { params: userIdPathSchema },
      responses: { 204: { description: 'Executed successfully.' } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const meta = writes.meta(caller, requestId);
        const result = await commands.delete(organizationId!, params.userId, meta);
        await writes.settle(result.position);
        await writes.settle(await sessions.ofUser(params.userId, meta));
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/users/{userId}/password',
      organization: 'caller',
      oneTimeSecret: true,
      summary: "Regenerate a user's temporary password: answered once; every session of the user ends.",
      tags: TAGS,
      access: { family: 'identity:users', operation: 'update' },
      request: { params: userIdPathSchema },
      responses: { 200: { description: 'Regenerated successfully.', schema: tempPasswordSchema } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const org = organizationId!;
        if (!(await users.get(org, params.userId, 0))) throw new NotFoundHttpError(`user ${params.userId} not found`);
        const meta = writes.meta(caller, requestId);
        const { tempPassword, position } = await passwords.setTemporaryPassword({ userId: params.userId, organizationId: org }, meta);
        await writes.settle((await sessions.ofUser(params.userId, meta, 'password_reset')) ?? position);
        return { status: 200, body: { tempPassword }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/users/{userId}/logout',
      organization: 'caller',
      summary: 'Sign a user out everywhere: every session of the user ends, its refresh tokens stop working.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'update' },
      request: { params: userIdPathSchema },
      responses: { 204: { description: 'Executed successfully.' } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        if (!(await users.get(organizationId!, params.userId, 0))) throw new NotFoundHttpError(`user ${params.userId} not found`);
        await writes.settle(await sessions.ofUser(params.userId, writes.meta(caller, requestId), 'signed_out_by_administrator'));
        return { status: 204 };
      },
    }),
  ];
}
