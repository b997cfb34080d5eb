import { z } from 'zod';
import { type CredentialCommands, WrongCurrentPasswordError } from '../../../commands/credentials/handlers.js';
import { type UserCommands, UniqueValueTakenError } from '../../../commands/user/handlers.js';
import type { CommandMetadata } from '../../../domain/shared/decider.js';
import { resourceNameSchema } from '../../../domain/shared/resource.js';
import { subjectSchema } from '../../../domain/user/events.js';
import type { SessionEnder } from '../../../processes/session-revocation.js';
import type { Filter, ReadModelStore, SortSpec } from '../../../ports/read-models.js';
import { USERS, type UserDocument } from '../../../projections/users/projection.js';
import type { AccessControl } from '../../auth/access-control.js';
import type { LoginThrottle } from '../../auth/login-throttle.js';
import type { Caller } from '../../auth/caller.js';
import { ConflictHttpError, InvalidRequestError, NotFoundHttpError, TooManyRequestsError } from '../../http/errors.js';
import { defineRoute } from '../../http/route.js';
import type { WriteContext } from '../../write-context.js';
import { ADMIN_ROLES, type RoleGroups } from '../runai/role-groups.js';
import { SEED_EMAIL } from '../runai/schemas.js';
import { groupsById, nameFromEmail } from '../runai/users.js';

/**
 * The `/auth/v1/users` API of seed 001, in the caller's organization: a thin
 * mapping onto the user and credential commands and the users read model.
 *
 * - `metadata.name` (and the `{name}` of the path) is the user's login name:
 *   its own login name (`jane`) when it has one beside its email, else its
 *   subject; unique in the organization, compared case-insensitively.
 * - `spec.email` is the subject when it is an email address. `metadata.name`
 *   without `@` and a different `spec.email` make a user with both: the email
 *   is its subject, the name its login name (one reservation scope holds both,
 *   so either signs in and neither can be another user's).
 * - `spec.username` is the display name: our user's resource name.
 * - `spec.is_admin`: the user holds `admin` or `administrator` through a group;
 *   setting it puts the user in (or takes it out of) the group `runai-role-admin`.
 * - `spec.is_disabled`: the user's state is `suspended`.
 * - `spec.password` is set through the credential commands (hashed, never echoed).
 * Fields this service does not model are rejected with a 400 naming them.
 */

const TAGS = ['Users (compatible, seed 001)'];

/** The User fields of seed 001 that this service does not model: a 400 names them. */
export const UNMODELLED_SPEC_FIELDS = [
  'account',
  'connector_id',
  'connector_name',
  'connector_type',
  'continuity_errors',
  'expired',
  'extra',
  'groups',
  'ids',
  'mail',
  'mobile',
  'state',
  'valid',
  'webhookType',
  'webhookUrl',
] as const;
const unmodelled = Object.fromEntries(
  UNMODELLED_SPEC_FIELDS.map((field) => [
    field,
    z
      .unknown()
      .refine(() => false, { message: 'not modelled by this service, so not accepted (docs/compat.md)' })
      .optional()
      .meta({ description: 'Not modelled by this service: a 400.' }),
  ]),
);

const loginNameSchema = subjectSchema;
const metadataWriteSchema = z
  .object({
    name: loginNameSchema.optional(),
    // Read-only: accepted and ignored, so that a client can send back what it read.
    uid: z.string().max(128).optional(),
    creationTimestamp: z.string().max(64).optional(),
  })
  .strict();
const specWriteSchema = z
  .object({
    username: resourceNameSchema.optional().meta({ description: 'The display name.' }),
    email: loginNameSchema.optional(),
    password: z.string().min(1).max(256).optional(),
    old_password: z.string().min(1).max(256).optional(),
    is_admin: z.boolean().optional(),
    is_disabled: z.boolean().optional(),
    /** Read-only: accepted and ignored. */
    last_login_time: z.string().max(64).optional(),
    ...unmodelled,
  })
  .strict();
const userWriteSchema = z
  .object({ apiVersion: z.string().max(64).optional(), kind: z.literal('User').optional(), metadata: metadataWriteSchema.default({}), spec: specWriteSchema.default({}) })
  .strict()
  .meta({ id: 'AuthUserWrite' });
const userPatchSchema = z
  .object({ apiVersion: z.string().max(64).optional(), kind: z.literal('User').optional(), metadata: metadataWriteSchema.optional(), spec: specWriteSchema.default({}) })
  .strict()
  .meta({ id: 'AuthUserPatch' });
type UserWrite = z.infer<typeof userWriteSchema>;

const userReadSchema = z
  .object({
    kind: z.literal('User'),
    metadata: z.object({ name: z.string(), uid: z.string(), creationTimestamp: z.string() }),
    spec: z.object({
      username: z.string(),
      email: z.string().optional(),
      is_admin: z.boolean(),
      is_disabled: z.boolean(),
      last_login_time: z.string().optional(),
    }),
  })
  .meta({ id: 'AuthUser' });
const userListSchema = z
  .object({ kind: z.literal('UserList'), total: z.number().int(), items: z.array(userReadSchema.omit({ kind: true })) })
  .meta({ id: 'AuthUserList' });

const FILTER_PATHS: Readonly<Record<string, string>> = { name: 'loginNameKey', email: 'subjectKey', username: 'metadata.name' };
const SORT_PATHS: Readonly<Record<string, string>> = { name: 'loginNameKey', email: 'subjectKey', username: 'metadata.name', creationTimestamp: 'metadata.creationTime' };

const decimal = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a decimal integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const listQuerySchema = z
  .object({
    filterBy: z.string().max(1024).optional().meta({ description: 'field,value pairs (all must hold): name, username, email; a case-insensitive substring. Example: username,jane' }),
    sortBy: z
      .string()
      .regex(/^-?(name|username|email|creationTimestamp)$/, 'must be name, username, email or creationTimestamp, with - in front for descending')
      .optional(),
    limit: decimal(1, 500).default(20),
    page: decimal(1, 1_000_000).default(1),
  })
  .strict();
const namePath = z.object({ name: z.string().min(1).max(320) });

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface AuthUserDeps {
  readonly commands: UserCommands;
  readonly readModels: ReadModelStore;
  readonly passwords: CredentialCommands;
  readonly roleGroups: RoleGroups;
  readonly sessions: Pick<SessionEnder, 'ofUser'>;
  readonly writes: WriteContext;
  readonly access: AccessControl;
  /** Wrong old passwords count toward the same delay as wrong passwords at sign-in. */
  readonly throttle: Pick<LoginThrottle, 'sourceOf' | 'request' | 'attempt' | 'failed' | 'succeeded'>;
}

export function authUserRoutes(deps: AuthUserDeps) {
  const { commands, readModels, passwords, roleGroups, sessions, writes, access, throttle } = deps;
  const users = () => readModels.collection<UserDocument>(USERS);

  /** By login name, or by email (subject): one reservation scope holds both, so at most one user answers. */
  const findUser = async (organizationId: string, name: string): Promise<UserDocument> => {
    const key = name.toLowerCase();
    const doc =
      (await users().findOne({ 'metadata.organizationId': organizationId, loginNameKey: key })) ??
      (await users().findOne({ 'metadata.organizationId': organizationId, subjectKey: key }));
    if (!doc) throw new NotFoundHttpError(`user ${name} not found`);
    return doc;
  };

  const toUsers = async (organizationId: string, docs: readonly UserDocument[]) => {
    const groups = await groupsById(readModels, organizationId, docs.flatMap((doc) => doc.spec.groupIDs));
    return docs.map((doc) => ({
      metadata: { name: doc.loginName ?? doc.spec.subject, uid: doc.metadata.id, creationTimestamp: doc.metadata.creationTime },
      spec: {
        username: doc.metadata.name,
        ...(SEED_EMAIL.test(doc.spec.subject) && { email: doc.spec.subject }),
        is_admin: doc.spec.groupIDs.some((id) => groups.get(id)?.spec.roleIDs.some((role) => ADMIN_ROLES.has(role)) ?? false),
        is_disabled: doc.spec.state === 'suspended',
        ...(doc.status.lastActive !== undefined && { last_login_time: doc.status.lastActive }),
      },
    }));
  };
  const toUser = async (organizationId: string, name: string) => ({ kind: 'User' as const, ...(await toUsers(organizationId, [await findUser(organizationId, name)]))[0]! });

  /**
   * The subject and login name of a write. `metadata.name` and `spec.email` the
   * same (or one of them): that is the subject, no separate login name. A
   * `metadata.name` without `@` and a different `spec.email`: the email is the
   * subject and the name the login name (seed 001's own example, jane and
   * jane@example.com).
   */
  const identityOf = (body: UserWrite): { subject: string; loginName?: string } => {
    const name = body.metadata.name;
    const email = body.spec.email;
    if (name !== undefined && email !== undefined && name.toLowerCase() !== email.toLowerCase()) {
      if (name.includes('@')) throw new InvalidRequestError('metadata.name: an email address as the login name must be the same as spec.email (docs/compat.md)');
      return { subject: email, loginName: name };
    }
    const subject = name ?? email;
    if (subject === undefined) throw new InvalidRequestError('metadata.name: required (the login name), or spec.email');
    return { subject };
  };

  /** The groups of a user with is_admin set: the admin role group joined or left, the others kept. */
  const groupsWithAdmin = (organizationId: string, isAdmin: boolean, current: readonly string[], caller: Caller, requestId: string) =>
    roleGroups.withAdmin(organizationId, isAdmin, current, caller, requestId, () => access.assertCanGrant(caller, organizationId, ['admin']));

  /** A subject or login name another user holds (they share one scope): a 409 naming the field of this API. */
  const conflict = (error: unknown): never => {
    if (error instanceof UniqueValueTakenError) {
      const field = error.field === 'loginName' ? 'metadata.name' : 'spec.email';
      throw new ConflictHttpError(`${field}: "${error.value}" is already the login name or email of another user of this organization`);
    }
    throw error;
  };

  /** The old password proven, as the sign-in and the own-password change prove one: wrong guesses slow down the account. */
  const changeWithOldPassword = async (user: { userId: string; organizationId: string }, oldPassword: string, password: string, meta: CommandMetadata, source: string) => {
    const account = `user\u0000${user.userId}`;
    const verdict = ((rate) => (rate.allowed ? throttle.attempt(account, source) : rate))(throttle.request(source));
    if (!verdict.allowed) throw new TooManyRequestsError(verdict.retryAfterSeconds, 'too many attempts to change the password; try again later');
    try {
      const position = await passwords.changeOwnPassword(user, oldPassword, password, meta, undefined, { key: source });
      throttle.succeeded(account, source);
      return position;
    } catch (error) {
      if (error instanceof WrongCurrentPasswordError) throttle.failed(account, source, (await passwords.policyOf(user.organizationId)).maximum_password_attempts);
      throw error;
    }
  };

  const setPassword = async (organizationId: string, userId: string, spec: UserWrite['spec'], meta: CommandMetadata, source: string) => {
    if (spec.password === undefined) {
      if (spec.old_password !== undefined) throw new InvalidRequestError('spec.old_password: only with spec.password');
      return undefined;
    }
    const user = { userId, organizationId };
    // With the old password: it is proven first (a wrong one is a 400); without: an administrator sets it.
    const position =
      spec.old_password !== undefined
        ? await changeWithOldPassword(user, spec.old_password, spec.password, meta, source)
        : await passwords.setPassword(user, spec.password, false, meta);
    // The user's sessions end: whoever held them must sign in with the new password.
    return (await sessions.ofUser(userId, meta, 'password_reset')) ?? position;
  };

  return [
    defineRoute({
      method: 'get',
      path: '/auth/v1/users',
      organization: 'caller',
      summary: 'List the users of the organization (filterBy=field,value; sortBy; limit; page).',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { query: listQuerySchema },
      responses: { 200: { description: 'The users.', schema: userListSchema } },
      handler: async ({ query, organizationId }) => {
        const org = organizationId!;
        const clauses: Filter[] = [];
        if (query.filterBy !== undefined) {
          const parts = query.filterBy.split(',');
          if (parts.length % 2 !== 0) throw new InvalidRequestError(`filterBy "${query.filterBy}": expected field,value pairs (field one of ${Object.keys(FILTER_PATHS).join(', ')})`);
          for (let i = 0; i < parts.length; i += 2) {
            const path = FILTER_PATHS[parts[i]!];
            if (!path) throw new InvalidRequestError(`filterBy: unknown field "${parts[i]}" (one of ${Object.keys(FILTER_PATHS).join(', ')})`);
            clauses.push({ [path]: { $regex: escapeRegex(parts[i + 1]!), $options: 'i' } });
          }
        }
        const filter: Filter = { 'metadata.organizationId': org, ...(clauses.length > 0 && { $and: clauses }) };
        const sortBy = query.sortBy ?? 'name';
        const direction = sortBy.startsWith('-') ? -1 : 1;
        const sort: SortSpec = { [SORT_PATHS[sortBy.replace(/^-/, '')]!]: direction, _id: direction };
        const [{ items }, total] = await Promise.all([users().findPage(filter, { sort, skip: (query.page - 1) * query.limit, limit: query.limit }), users().count(filter)]);
        return { status: 200, body: { kind: 'UserList' as const, total, items: await toUsers(org, items) } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/v1/users',
      organization: 'caller',
      summary: 'Create a user: its login name, display name, admin flag, state and password.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'create' },
      request: { body: userWriteSchema },
      responses: { 201: { description: 'The user.', schema: userReadSchema } },
      handler: async ({ body, organizationId, caller, requestId, req }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const { subject, loginName } = identityOf(body);
        const login = loginName ?? subject;
        if (body.spec.old_password !== undefined) throw new InvalidRequestError('spec.old_password: only when changing a password (PATCH)');
        if (body.spec.password !== undefined) await passwords.checkPassword(org, body.spec.password, { names: [subject, login, body.spec.username ?? nameFromEmail(login)] });
        const groupIDs = body.spec.is_admin === true ? await groupsWithAdmin(org, true, [], caller, requestId) : [];
        const input = {
          name: body.spec.username ?? nameFromEmail(login),
          tags: [],
          subject,
          ...(loginName !== undefined && { loginName }),
          state: body.spec.is_disabled === true ? ('suspended' as const) : ('active' as const),
          groupIDs,
        };
        const { userId, position } = await commands.create(org, input, meta, (ids) => access.assertCanGrant(caller, org, ids)).catch(conflict);
        await writes.settle((await setPassword(org, userId, body.spec, meta, throttle.sourceOf(req))) ?? position);
        return { status: 201, body: await toUser(org, login) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/auth/v1/users/{name}',
      organization: 'caller',
      summary: 'Get a user by its login name (metadata.name).',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { params: namePath },
      responses: { 200: { description: 'The user.', schema: userReadSchema } },
      handler: async ({ params, organizationId }) => ({ status: 200, body: await toUser(organizationId!, params.name) }),
    }),
    defineRoute({
      method: 'patch',
      path: '/auth/v1/users/{name}',
      organization: 'caller',
      summary: "Change a user's password (with old_password: proven first), display name, admin flag or state.",
      tags: TAGS,
      access: { family: 'identity:users', operation: 'update' },
      request: { params: namePath, body: userPatchSchema },
      responses: { 200: { description: 'The user.', schema: userReadSchema } },
      handler: async ({ params, body, organizationId, caller, requestId, req }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const doc = await findUser(org, params.name);
        const login = doc.loginName ?? doc.spec.subject;
        if (body.metadata?.name !== undefined && body.metadata.name.toLowerCase() !== login.toLowerCase()) throw new InvalidRequestError('metadata.name: the login name cannot change here');
        // A user with a login name of its own may change its email (its subject); one whose email is its login name may not.
        const email = body.spec.email;
        if (email !== undefined && doc.loginName === undefined && email.toLowerCase() !== login.toLowerCase()) throw new InvalidRequestError('spec.email: the login name cannot change here');
        const subject = email ?? doc.spec.subject;
        // The policy's rules before anything changes (reuse of an old password is checked when it is set).
        if (body.spec.password !== undefined) await passwords.checkPassword(org, body.spec.password, { names: [subject, login, body.spec.username ?? doc.metadata.name], userId: doc.metadata.id });
        const groupIDs = body.spec.is_admin === undefined ? undefined : await groupsWithAdmin(org, body.spec.is_admin, doc.spec.groupIDs, caller, requestId);
        const state = body.spec.is_disabled === undefined ? doc.spec.state : body.spec.is_disabled ? 'suspended' : doc.spec.state === 'suspended' ? 'active' : doc.spec.state;
        const details = {
          name: body.spec.username ?? doc.metadata.name,
          ...(doc.metadata.description !== undefined && { description: doc.metadata.description }),
          tags: doc.metadata.tags ?? [],
          subject,
          state,
          ...(groupIDs !== undefined && { groupIDs }),
        };
        const result = await commands.update(org, doc.metadata.id, details, meta, (ids) => access.assertCanGrant(caller, org, ids)).catch(conflict);
        await writes.settle((await setPassword(org, doc.metadata.id, body.spec, meta, throttle.sourceOf(req))) ?? result.position);
        return { status: 200, body: await toUser(org, login) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/auth/v1/users/{name}',
      organization: 'caller',
      summary: 'Delete a user: it leaves every group and its sessions end.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'delete' },
      request: { params: namePath },
      responses: { 204: { description: 'OK' } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const doc = await findUser(organizationId!, params.name);
        const meta = writes.meta(caller, requestId);
        await writes.settle((await commands.delete(organizationId!, doc.metadata.id, meta)).position);
        await writes.settle(await sessions.ofUser(doc.metadata.id, meta));
        return { status: 204 };
      },
    }),
  ];
}
