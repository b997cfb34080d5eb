import type { CredentialCommands } from '../../commands/credentials/handlers.js';
import type { SignupCommands } from '../../commands/signup/handlers.js';
import type { UserCommands } from '../../commands/user/handlers.js';
import type { SessionEnder } from '../../processes/session-revocation.js';
import { USER_FIELDS, type UserQueries } from '../../projections/users/queries.js';
import type { AccessControl } from '../auth/access-control.js';
import type { Caller } from '../auth/caller.js';
import { NotFoundHttpError } from '../http/errors.js';
import { cursorPageSchema, cursorSearchSchema, listQuerySchema, listReply } from '../http/list-query.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';
import type { WriteContext } from '../write-context.js';
import { userCreateSchema, userPathSchema, userReadSchema, usersSchema, type UserWrite, userWriteSchema } from './schemas.js';

const TAGS = ['users'];

const toInput = ({ metadata, spec }: UserWrite) => ({
  name: metadata.name,
  description: metadata.description,
  tags: metadata.tags ?? [],
  subject: spec.subject,
  state: spec.state,
  groupIDs: spec.groupIDs,
});

export function userRoutes(deps: {
  commands: UserCommands;
  queries: UserQueries;
  writes: WriteContext;
  access: AccessControl;
  passwords: CredentialCommands;
  sessions: Pick<SessionEnder, 'ofUser'>;
  /** Set when sign-up with email verification is on: new users start pending and are mailed a link. */
  signups?: Pick<SignupCommands, 'start'>;
}) {
  const { commands, queries, writes, access, passwords, sessions, signups } = deps;

  const readUser = async (organizationId: string, userId: string) => {
    const user = await queries.get(organizationId, userId);
    if (!user) throw new NotFoundHttpError(`user ${userId} not found`);
    return user;
  };

  /** Joining a group grants its roles: the caller must be able to grant them. */
  const grantCheck = (caller: Caller, organizationId: string) => (roleIds: readonly string[]) =>
    access.assertCanGrant(caller, organizationId, roleIds);

  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/users',
      timeTravel: true,
      summary: 'List the users of an organization.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { params: organizationPathSchema, query: listQuerySchema },
      responses: { 200: { description: 'A list of users.', schema: usersSchema } },
      filterable: USER_FIELDS,
      handler: async ({ params, query }) => listReply(await queries.list(params.organizationID, query)),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/users/search',
      summary: 'Search the users of an organization with a filter expression, a page at a time (cursor pages).',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { params: organizationPathSchema, body: cursorSearchSchema },
      responses: { 200: { description: 'A page of users.', schema: cursorPageSchema(userReadSchema) } },
      filterable: USER_FIELDS,
      handler: async ({ params, body }) => ({
        status: 200,
        body: await queries.search(params.organizationID, {
          filterExpression: body.filter_expression,
          sortBy: body.sort_by,
          sortOrder: body.sort_order,
          cursor: body.cursor,
          limit: body.limit,
        }),
      }),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/users',
      summary: 'Create a user and add it to a set of groups.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'create' },
      request: { params: organizationPathSchema, body: userCreateSchema },
      responses: { 201: { description: 'A user.', schema: userReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const org = params.organizationID;
        const meta = writes.meta(caller, requestId);
        const input = toInput(body);
        // With sign-up on, a new user proves its email address before it is active.
        const verify = signups !== undefined && input.state !== 'suspended';
        // The organization's password policy first: a refused password creates no user.
        if (body.spec.password !== undefined) await passwords.checkPassword(org, body.spec.password, { names: [input.subject, input.name] });
        const result = await commands.create(org, verify ? { ...input, state: 'pending' } : input, meta, grantCheck(caller, org));
        if (verify) {
          // The mail goes out from the sign-up process; the link returns to the application the administrator used.
          const started = await signups.start({ userId: result.userId, organizationId: org, ...(caller.clientId !== undefined && { clientId: caller.clientId }) }, meta);
          await writes.settle(started ?? result.position);
        } else {
          await writes.settle(result.position);
        }
        if (body.spec.password !== undefined) {
          await writes.settle(await passwords.setPassword({ userId: result.userId, organizationId: org }, body.spec.password, false, meta));
        }
        return { status: 201, body: await readUser(org, result.userId) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/users/{userID}',
      timeTravel: true,
      history: { kind: 'user', idParam: 'userID' },
      summary: 'Get a user.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { params: userPathSchema },
      responses: { 200: { description: 'A user.', schema: userReadSchema } },
      handler: async ({ params }) => ({ status: 200, body: await readUser(params.organizationID, params.userID) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/organizations/{organizationID}/users/{userID}',
      summary: 'Update a user; with groupIDs, also the groups it belongs to.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'update' },
      request: { params: userPathSchema, body: userWriteSchema },
      responses: { 200: { description: 'A user.', schema: userReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const org = params.organizationID;
        const meta = writes.meta(caller, requestId);
        const input = toInput(body);
        const result = await commands.update(org, params.userID, input, meta, grantCheck(caller, org));
        // A suspended (or pending) user's sessions end before the answer: making it active again revives none of them.
        const ended = input.state !== 'active' ? await sessions.ofUser(params.userID, meta, 'user_suspended') : undefined;
        await writes.settle(ended ?? result.position);
        return { status: 200, body: await readUser(org, params.userID) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/organizations/{organizationID}/users/{userID}',
      summary: 'Delete a user and take it out of every group.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'delete' },
      request: { params: userPathSchema },
      responses: { 200: { description: 'User removed and all groups disassociated with the user.' } },
      handler: async ({ params, caller, requestId }) => {
        const meta = writes.meta(caller, requestId);
        const result = await commands.delete(params.organizationID, params.userID, meta);
        await writes.settle(result.position);
        // Its tokens already fail (the user is gone); ending the sessions says so in the log too.
        await sessions.ofUser(params.userID, meta);
        return { status: 200 };
      },
    }),
  ];
}
