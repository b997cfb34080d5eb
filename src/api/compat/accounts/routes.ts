import { z } from 'zod';
import type { ApiKeyCommands } from '../../../commands/api-key/handlers.js';
import { type CredentialCommands, WrongCurrentPasswordError } from '../../../commands/credentials/handlers.js';
import type { AccountCommands } from '../../../commands/user/accounts.js';
import type { UserCommands } from '../../../commands/user/handlers.js';
import type { CommandMetadata } from '../../../domain/shared/decider.js';
import { ConflictError } from '../../../domain/shared/errors.js';
import { KUBERNETES_LABEL_VALUE } from '../../../domain/shared/resource.js';
import { subjectSchema, type UserProfile } from '../../../domain/user/events.js';
import type { SessionEnder } from '../../../processes/session-revocation.js';
import type { Filter, ReadModelStore } from '../../../ports/read-models.js';
import { USERS, type UserDocument } from '../../../projections/users/projection.js';
import type { AccessControl } from '../../auth/access-control.js';
import type { Caller } from '../../auth/caller.js';
import type { LoginThrottle } from '../../auth/login-throttle.js';
import { ConflictHttpError, InvalidRequestError, NotFoundHttpError, TooManyRequestsError } from '../../http/errors.js';
import { defineRoute } from '../../http/route.js';
import type { WriteContext } from '../../write-context.js';
import { ADMIN_ROLES, type RoleGroups } from '../runai/role-groups.js';
import { SEED_EMAIL } from '../runai/schemas.js';
import { groupsById, nameFromEmail } from '../runai/users.js';
import { compileFilterExpression, type ListFields, MAX_EXPRESSION_LENGTH } from '../../../query/index.js';
import { cursorPage } from '../../../query/cursor.js';
import { DERIVED_ACCOUNT_FIELDS, groupsReader, resolveDerived } from './derived-fields.js';
import { USER_FIELDS } from '../../../projections/users/queries.js';

/**
 * The accounts API of seed 002 at /api/v2/accounts (docs/accounts.md), in the
 * caller's organization: an account is one of our users (one stream, one
 * history), seen with the seed's fields.
 *
 * - `id`: the account's stable number in its organization (drawn once).
 * - `email`: the user's subject when it is an email address; `username`: its
 *   display name (the user's resource name). Without an email, `username` is
 *   the subject (the login name) too.
 * - `enabled`: the user's state is active (disabled: suspended).
 * - `is_admin`: the user holds `admin` or `administrator` through a group;
 *   setting it joins (clearing it leaves) the group `runai-role-admin`.
 * - `tags`: the user's tags (`key` is our tag's `name`).
 * - `first_name`, `last_name`, `api_client_id`, `ldap_principal`: the profile (user.profile.changed).
 * - `effective_scopes`: the organization-wide permissions its roles give it.
 * - API keys: one live key per account, answered once, hashed at rest.
 */

const TAGS = ['Accounts (compatible, seed 002)'];

const accountTagSchema = z.object({ key: z.string().min(1).max(256), value: z.string().max(1024) }).strict();
const profileFields = {
  api_client_id: z.string().max(256).optional(),
  first_name: z.string().max(256).optional(),
  last_name: z.string().max(256).optional(),
  ldap_principal: z.string().max(1024).optional(),
};
const usernameSchema = z.string().min(1).max(320).meta({ description: 'The display name (a Kubernetes label value); without an email, also the login name.' });

const accountCreateSchema = z
  .object({
    is_admin: z.boolean().default(false),
    generate_api_key: z.boolean().default(false),
    email: subjectSchema.optional(),
    username: usernameSchema.optional(),
    password: z.string().min(1).max(256).optional(),
    tags: z.array(accountTagSchema).max(50).default([]),
    ...profileFields,
  })
  .strict()
  .meta({ id: 'AccountCreate' });
/** Read-only fields of an account, accepted and ignored so that a client can send back what it read. */
const readOnly = {
  id: z.number().int().optional(),
  last_access_time: z.string().max(64).optional(),
  creation_time: z.string().max(64).optional(),
  api_key_expiry_time: z.string().max(64).optional(),
  effective_scopes: z.array(z.unknown()).max(1000).optional(),
};
const accountUpdateSchema = z
  .object({
    email: subjectSchema.optional(),
    username: usernameSchema.optional(),
    tags: z.array(accountTagSchema).max(50).optional(),
    enabled: z.boolean().optional(),
    is_admin: z.boolean().optional(),
    ...profileFields,
    ...readOnly,
  })
  .strict()
  .meta({ id: 'AccountUpdate' });
const passwordChangeSchema = z
  .object({
    old_password: z.string().min(1).max(256).optional().meta({ description: 'Proven first when given; without it, an administrator sets the password.' }),
    new_password: z.string().min(1).max(256),
  })
  .strict()
  .meta({ id: 'AccountPasswordChange' });

const scopeSchema = z.object({ id: z.string(), name: z.string() });
const accountSchema = z
  .object({
    id: z.number().int(),
    api_client_id: z.string().optional(),
    first_name: z.string().optional(),
    last_name: z.string().optional(),
    email: z.string().optional(),
    username: z.string(),
    ldap_principal: z.string().optional(),
    last_access_time: z.string().optional(),
    creation_time: z.string(),
    api_key_expiry_time: z.string().optional(),
    effective_scopes: z.array(scopeSchema),
    tags: z.array(accountTagSchema),
    enabled: z.boolean(),
    is_admin: z.boolean(),
  })
  .meta({ id: 'Account' });
const accountListSchema = z
  .object({
    items: z.array(accountSchema),
    response_metadata: z.object({ prev_cursor: z.string().nullable(), next_cursor: z.string().nullable(), total: z.number().int() }),
  })
  .meta({ id: 'AccountList' });
const createdSchema = z
  .object({
    token: z.string().optional().meta({ description: 'The API key, when generate_api_key was set: shown once.' }),
    id: z.number().int(),
    first_name: z.string().optional(),
    last_name: z.string().optional(),
    email: z.string().optional(),
    username: z.string(),
    ldap_principal: z.string().optional(),
    tags: z.array(accountTagSchema),
  })
  .meta({ id: 'AccountCreated' });
const apiKeySchema = createdSchema.extend({ token: z.string(), api_key_expiry_time: z.string() }).meta({ id: 'AccountApiKey' });

/**
 * What filter expressions may name (POST /api/v2/accounts/search), in the seed's field names: the stored ones here,
 * and `enabled`, `is_admin` and `effective_scopes`, derived from the state and the groups (derived-fields.ts).
 */
export const STORED_ACCOUNT_FIELDS: ListFields = {
  id: { path: 'account.number', type: 'number' },
  api_client_id: { path: 'account.profile.apiClientId', type: 'string' },
  first_name: { path: 'account.profile.firstName', type: 'string' },
  last_name: { path: 'account.profile.lastName', type: 'string' },
  email: { path: 'spec.subject', type: 'string' },
  username: { path: 'metadata.name', type: 'string' },
  ldap_principal: { path: 'account.profile.ldapPrincipal', type: 'string' },
  last_access_time: { path: 'status.lastActive', type: 'date' },
  creation_time: { path: 'metadata.creationTime', type: 'date' },
  api_key_expiry_time: { path: 'account.apiKeyExpiresAt', type: 'date' },
  tags: { path: 'metadata.tags', type: 'objects', fields: { key: { path: 'name', type: 'string' }, value: { path: 'value', type: 'string' } } },
};
export const ACCOUNT_FIELDS: ListFields = { ...STORED_ACCOUNT_FIELDS, ...DERIVED_ACCOUNT_FIELDS };
const searchSchema = z
  .object({
    filter_expression: z
      .string()
      .max(MAX_EXPRESSION_LENGTH)
      .meta({ description: `A filter expression over ${Object.keys(ACCOUNT_FIELDS).join(', ')} (docs/accounts.md). Example: tags CONTAINS {key EQ 'team'} AND NOT enabled EQ false` }),
  })
  .strict()
  // The seed's vendor extension: the attributes a filter expression may name.
  .meta({ id: 'AccountSearch', 'x-filterable': Object.keys(ACCOUNT_FIELDS) });

const idPath = z.object({ id: z.string().regex(/^[1-9]\d{0,9}$/, 'must be an account id (a positive integer)').transform(Number) });
const listQuerySchema = z
  .object({
    limit: z
      .string()
      .regex(/^\d{1,4}$/, 'must be a decimal integer')
      .transform(Number)
      .pipe(z.number().int().min(1).max(500))
      .default(20),
    cursor: z.string().max(1024).optional().meta({ description: 'A prev_cursor or next_cursor of an earlier page.' }),
  })
  .strict();

export interface AccountDeps {
  readonly users: UserCommands;
  readonly accounts: AccountCommands;
  readonly apiKeys: ApiKeyCommands;
  readonly readModels: ReadModelStore;
  readonly passwords: CredentialCommands;
  readonly roleGroups: RoleGroups;
  readonly sessions: Pick<SessionEnder, 'ofUser'>;
  readonly writes: WriteContext;
  readonly access: AccessControl;
  /** Wrong old passwords count toward the same delay as wrong passwords at sign-in. */
  readonly throttle: Pick<LoginThrottle, 'sourceOf' | 'request' | 'attempt' | 'failed' | 'succeeded'>;
}

const profileOf = (body: { api_client_id?: string; first_name?: string; last_name?: string; ldap_principal?: string }, current: UserProfile = {}): UserProfile => ({
  ...current,
  ...(body.first_name !== undefined && { firstName: body.first_name }),
  ...(body.last_name !== undefined && { lastName: body.last_name }),
  ...(body.api_client_id !== undefined && { apiClientId: body.api_client_id }),
  ...(body.ldap_principal !== undefined && { ldapPrincipal: body.ldap_principal }),
});

/** The display name a username stands for: itself when it is a label value; a 400 otherwise. */
const displayName = (username: string): string => {
  if (!KUBERNETES_LABEL_VALUE.test(username)) throw new InvalidRequestError('username: must be a Kubernetes label value (1-63 characters, alphanumeric at both ends, - _ . inside)');
  return username;
};

/** A username that is the login name must be one: no control characters, no surrounding spaces. */
const loginName = (username: string): void => {
  if (!subjectSchema.safeParse(username).success) throw new InvalidRequestError('username: must not contain control characters or start or end with a space');
};

export function accountRoutes(deps: AccountDeps) {
  const { users: userCommands, accounts, apiKeys, readModels, passwords, roleGroups, sessions, writes, access, throttle } = deps;
  const users = () => readModels.collection<UserDocument>(USERS);

  const findAccount = async (organizationId: string, id: number): Promise<UserDocument> => {
    const doc = await users().findOne({ 'metadata.organizationId': organizationId, 'account.number': id });
    if (!doc) throw new NotFoundHttpError(`account ${id} not found`);
    return doc;
  };

  /** Every document with its number: users made by the other APIs draw theirs the first time this API shows them. */
  const numbered = async (organizationId: string, docs: UserDocument[], meta: CommandMetadata): Promise<UserDocument[]> => {
    const missing = docs.filter((doc) => doc.account?.number === undefined);
    if (missing.length === 0) return docs;
    const numbers = new Map<string, number>();
    for (const doc of missing) {
      const { accountNumber, position } = await accounts.ensureNumber(organizationId, doc.metadata.id, meta);
      numbers.set(doc.metadata.id, accountNumber);
      await writes.settle(position);
    }
    return docs.map((doc) => (numbers.has(doc.metadata.id) ? { ...doc, account: { ...doc.account, number: numbers.get(doc.metadata.id)! } } : doc));
  };

  const scopesOf = async (doc: UserDocument) => {
    const caller: Caller = { subject: doc.spec.subject, kind: 'user', platformAdministrator: false, organizationId: doc.metadata.organizationId, principalId: doc.metadata.id };
    const acl = await access.acl(caller, doc.metadata.organizationId);
    return (acl.organization?.endpoints ?? []).flatMap(({ name, operations }) => operations.map((op) => ({ id: `${name}:${op}`, name: `${op} ${name}` })));
  };

  const toAccounts = async (organizationId: string, docs: readonly UserDocument[]) => {
    const groups = await groupsById(readModels, organizationId, docs.flatMap((doc) => doc.spec.groupIDs));
    return Promise.all(
      docs.map(async (doc) => {
        const profile = doc.account?.profile ?? {};
        return {
          id: doc.account!.number!,
          ...(profile.apiClientId !== undefined && { api_client_id: profile.apiClientId }),
          ...(profile.firstName !== undefined && { first_name: profile.firstName }),
          ...(profile.lastName !== undefined && { last_name: profile.lastName }),
          ...(SEED_EMAIL.test(doc.spec.subject) && { email: doc.spec.subject }),
          username: doc.metadata.name,
          ...(profile.ldapPrincipal !== undefined && { ldap_principal: profile.ldapPrincipal }),
          ...(doc.status.lastActive !== undefined && { last_access_time: doc.status.lastActive }),
          creation_time: doc.metadata.creationTime,
          ...(doc.account?.apiKeyExpiresAt !== undefined && { api_key_expiry_time: doc.account.apiKeyExpiresAt }),
          effective_scopes: await scopesOf(doc),
          tags: (doc.metadata.tags ?? []).map((tag) => ({ key: tag.name, value: tag.value })),
          enabled: doc.spec.state === 'active',
          is_admin: doc.spec.groupIDs.some((id) => groups.get(id)?.spec.roleIDs.some((role) => ADMIN_ROLES.has(role)) ?? false),
        };
      }),
    );
  };
  const toAccount = async (organizationId: string, doc: UserDocument) => (await toAccounts(organizationId, [doc]))[0]!;
  const reread = async (organizationId: string, userId: string) => {
    const doc = await users().findById(userId);
    if (!doc || doc.metadata.organizationId !== organizationId) throw new NotFoundHttpError('account not found');
    return doc;
  };

  /** The groups of a user with is_admin set: the admin role group joined or left, the others kept. */
  const groupsWithAdmin = (organizationId: string, isAdmin: boolean, current: readonly string[], caller: Caller, requestId: string) =>
    roleGroups.withAdmin(organizationId, isAdmin, current, caller, requestId, () => access.assertCanGrant(caller, organizationId, ['admin']));

  const conflict = (name: string) => (error: unknown): never => {
    if (error instanceof ConflictError) throw new ConflictHttpError(`an account named ${name} already exists`);
    throw error;
  };

  const apiKeyBody = (account: Awaited<ReturnType<typeof toAccount>>) => ({
    id: account.id,
    ...(account.first_name !== undefined && { first_name: account.first_name }),
    ...(account.last_name !== undefined && { last_name: account.last_name }),
    ...(account.email !== undefined && { email: account.email }),
    username: account.username,
    ...(account.ldap_principal !== undefined && { ldap_principal: account.ldap_principal }),
    tags: account.tags,
  });

  /** A cursor page of the organization's accounts, those matching `matching` when given; `total` counts all matches. */
  const listAccounts = async (organizationId: string, query: { limit: number; cursor?: string | undefined }, matching: Filter | undefined, meta: CommandMetadata) => {
    const base: Filter = { 'metadata.organizationId': organizationId, ...(matching && { $and: [matching] }) };
    // Oldest first: creation time, then the id (the shared keyset pages of src/query/cursor.ts).
    const page = await cursorPage(users(), USER_FIELDS, { filter: base, sortBy: 'creationTime', sortOrder: 'asc', cursor: query.cursor, limit: query.limit }, (doc) => doc);
    const items = await toAccounts(organizationId, await numbered(organizationId, [...page.items], meta));
    return { items, response_metadata: page.response_metadata };
  };

  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/accounts',
      organization: 'caller',
      summary: 'List the accounts of the organization, a cursor page at a time (oldest first).',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { query: listQuerySchema },
      responses: { 200: { description: 'The accounts.', schema: accountListSchema } },
      handler: async ({ query, organizationId, caller, requestId }) => ({ status: 200, body: await listAccounts(organizationId!, query, undefined, writes.meta(caller, requestId)) }),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v2/accounts/search',
      organization: 'caller',
      summary: 'Search the accounts of the organization with a filter expression, a cursor page at a time (oldest first).',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { query: listQuerySchema, body: searchSchema },
      responses: { 200: { description: 'The matching accounts.', schema: accountListSchema } },
      handler: async ({ query, body, organizationId, caller, requestId }) => ({
        status: 200,
        body: await listAccounts(
          organizationId!,
          query,
          await resolveDerived(compileFilterExpression(body.filter_expression, ACCOUNT_FIELDS), groupsReader(readModels, organizationId!)),
          writes.meta(caller, requestId),
        ),
      }),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v2/accounts',
      organization: 'caller',
      summary: 'Create an account (a user of the organization); with generate_api_key, its API key is answered once.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'create' },
      request: { body: accountCreateSchema },
      responses: { 201: { description: 'The created account id and, if requested, the API key.', schema: createdSchema } },
      oneTimeSecret: true,
      handler: async ({ body, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const subject = body.email ?? body.username;
        if (subject === undefined) throw new InvalidRequestError('email or username: one is required (the login name)');
        if (body.email === undefined) loginName(subject);
        const name = body.username !== undefined && body.email !== undefined ? displayName(body.username) : nameFromEmail(subject);
        // The organization's password policy before anything is written (docs/password-policy.md).
        if (body.password !== undefined) await passwords.checkPassword(org, body.password, { names: [subject, name] });
        const groupIDs = body.is_admin ? await groupsWithAdmin(org, true, [], caller, requestId) : [];
        const tags = body.tags.map((tag) => ({ name: tag.key, value: tag.value }));
        const { userId, position } = await userCommands
          .create(org, { name, tags, subject, state: 'active', groupIDs }, meta, (ids) => access.assertCanGrant(caller, org, ids))
          .catch(conflict(subject));
        await writes.settle(position);
        const profile = profileOf(body);
        if (Object.keys(profile).length > 0) await writes.settle(await accounts.changeProfile(org, userId, profile, meta));
        await writes.settle((await accounts.ensureNumber(org, userId, meta)).position);
        if (body.password !== undefined) await writes.settle(await passwords.setPassword({ userId, organizationId: org }, body.password, false, meta, undefined, { names: [subject, name] }));
        const key = body.generate_api_key ? await apiKeys.generate(org, userId, meta) : undefined;
        await writes.settle(key?.position);
        const account = await toAccount(org, await reread(org, userId));
        return { status: 201, body: { ...(key && { token: key.token }), ...apiKeyBody(account) }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/accounts/{id}',
      organization: 'caller',
      summary: 'Get an account by its id.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'read' },
      request: { params: idPath },
      responses: { 200: { description: 'The account.', schema: accountSchema } },
      handler: async ({ params, organizationId }) => ({ status: 200, body: await toAccount(organizationId!, await findAccount(organizationId!, params.id)) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v2/accounts/{id}',
      organization: 'caller',
      summary: 'Update an account: the fields sent change, the others stay (read-only fields are accepted and ignored).',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'update' },
      request: { params: idPath, body: accountUpdateSchema },
      responses: { 200: { description: 'The updated account.', schema: accountSchema } },
      handler: async ({ params, body, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const meta = writes.meta(caller, requestId);
        const doc = await findAccount(org, params.id);
        const usernameIsLogin = !SEED_EMAIL.test(doc.spec.subject);
        const subject = body.email ?? (usernameIsLogin && body.username !== undefined ? body.username : doc.spec.subject);
        if (body.email === undefined && subject !== doc.spec.subject) loginName(subject);
        const name = body.username !== undefined ? (usernameIsLogin && body.email === undefined ? nameFromEmail(body.username) : displayName(body.username)) : doc.metadata.name;
        const groupIDs = body.is_admin === undefined ? undefined : await groupsWithAdmin(org, body.is_admin, doc.spec.groupIDs, caller, requestId);
        const state = body.enabled === undefined ? doc.spec.state : body.enabled ? (doc.spec.state === 'suspended' ? 'active' : doc.spec.state) : 'suspended';
        const details = {
          name,
          ...(doc.metadata.description !== undefined && { description: doc.metadata.description }),
          tags: body.tags === undefined ? (doc.metadata.tags ?? []) : body.tags.map((tag) => ({ name: tag.key, value: tag.value })),
          subject,
          state,
          ...(groupIDs !== undefined && { groupIDs }),
        };
        const result = await userCommands.update(org, doc.metadata.id, details, meta, (ids) => access.assertCanGrant(caller, org, ids)).catch(conflict(subject));
        await writes.settle(result.position);
        await writes.settle(await accounts.changeProfile(org, doc.metadata.id, profileOf(body, doc.account?.profile), meta));
        // A disabled account's sessions end (its API key is refused while it is disabled).
        if (state === 'suspended' && doc.spec.state !== 'suspended') await writes.settle(await sessions.ofUser(doc.metadata.id, meta, 'user_suspended'));
        return { status: 200, body: await toAccount(org, await reread(org, doc.metadata.id)) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v2/accounts/{id}',
      organization: 'caller',
      summary: 'Delete an account: its API key stops working, it leaves every group and its sessions end.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'delete' },
      request: { params: idPath },
      responses: { 204: { description: 'Deleted.' } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const doc = await findAccount(org, params.id);
        const meta = writes.meta(caller, requestId);
        await writes.settle(await apiKeys.revoke(org, doc.metadata.id, meta));
        await writes.settle((await userCommands.delete(org, doc.metadata.id, meta)).position);
        await writes.settle(await sessions.ofUser(doc.metadata.id, meta));
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v2/accounts/{id}/password',
      organization: 'caller',
      summary: "Change an account's password (with old_password: proven first); its sessions end.",
      tags: TAGS,
      access: { family: 'identity:users', operation: 'update' },
      request: { params: idPath, body: passwordChangeSchema },
      responses: { 204: { description: 'Password changed.' } },
      handler: async ({ params, body, organizationId, caller, requestId, req }) => {
        const org = organizationId!;
        const doc = await findAccount(org, params.id);
        const meta = writes.meta(caller, requestId);
        const user = { userId: doc.metadata.id, organizationId: org };
        let position;
        if (body.old_password !== undefined) {
          // Proven as the sign-in proves one: wrong guesses slow down the account.
          const source = throttle.sourceOf(req);
          const key = `user\u0000${doc.metadata.id}`;
          const verdict = ((rate) => (rate.allowed ? throttle.attempt(key, source) : rate))(throttle.request(source));
          if (!verdict.allowed) throw new TooManyRequestsError(verdict.retryAfterSeconds, 'too many attempts to change the password; try again later');
          try {
            position = await passwords.changeOwnPassword(user, body.old_password, body.new_password, meta, undefined, { key: source });
            throttle.succeeded(key, source);
          } catch (error) {
            if (error instanceof WrongCurrentPasswordError) throttle.failed(key, source, (await passwords.policyOf(org)).maximum_password_attempts);
            throw error;
          }
        } else {
          // The same credential command as every other API: the organization's password policy applies.
          position = await passwords.setPassword(user, body.new_password, false, meta, undefined, { names: [doc.spec.subject, doc.metadata.name] });
        }
        await writes.settle((await sessions.ofUser(doc.metadata.id, meta, 'password_reset')) ?? position);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v2/accounts/{id}/api-key',
      organization: 'caller',
      summary: 'Generate a new API key for the account, answered once; the old key stops working.',
      tags: TAGS,
      access: { family: 'identity:users', operation: 'update' },
      request: { params: idPath },
      responses: { 200: { description: 'The new API key (shown once) and the account.', schema: apiKeySchema } },
      oneTimeSecret: true,
      handler: async ({ params, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const doc = await findAccount(org, params.id);
        const key = await apiKeys.generate(org, doc.metadata.id, writes.meta(caller, requestId));
        await writes.settle(key.position);
        const account = await toAccount(org, await reread(org, doc.metadata.id));
        return { status: 200, body: { token: key.token, ...apiKeyBody(account), api_key_expiry_time: key.expiresAt }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v2/accounts/{id}/api-key',
      organization: 'caller',
      summary: "Revoke the account's API key: it stops working at once.",
      tags: TAGS,
      access: { family: 'identity:users', operation: 'update' },
      request: { params: idPath },
      responses: { 204: { description: 'Revoked (or there was none).' } },
      handler: async ({ params, organizationId, caller, requestId }) => {
        const org = organizationId!;
        const doc = await findAccount(org, params.id);
        await writes.settle(await apiKeys.revoke(org, doc.metadata.id, writes.meta(caller, requestId)));
        return { status: 204 };
      },
    }),
  ];
}
