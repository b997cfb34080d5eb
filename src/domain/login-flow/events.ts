import { z } from 'zod';

/** Why a step of a login was refused because it did not belong to the flow it claimed. */
export const LOGIN_FLOW_REJECTIONS = [
  'ticket_not_for_this_flow',
  'account_not_in_client_organization',
  'choice_not_for_this_flow',
  // Federated login (GET /oidc/callback): the sealed state did not open or had expired...
  'federation_state_invalid',
  // ...was already used (a replay, or a second tab)...
  'federation_state_replayed',
  // ...or came back to a browser that did not start it (no binding cookie, or another one).
  'federation_browser_mismatch',
  // The upstream answered an error, could not be reached, or its answer did not check out (audience, nonce, signature).
  'upstream_error',
  'upstream_unavailable',
  'upstream_token_invalid',
  // The upstream identity matched no account (no link, no verified email of a user of the organization).
  'federated_account_unknown',
] as const;
export type LoginFlowRejection = (typeof LOGIN_FLOW_REJECTIONS)[number];

/** Which limit refused an attempt: the source's request rate, or the delay after failures (per account and source, or per account). */
export const THROTTLE_LIMITS = ['source_rate', 'account_source_delay', 'account_delay'] as const;
export type ThrottleLimit = (typeof THROTTLE_LIMITS)[number];

/**
 * A login step that mixed two flows (an attack, or a user with two tabs).
 * Sampled: at most one event per client and reason per minute and instance,
 * with the number of refusals it stands for, so a flood cannot flood the log.
 * Never carries the state, ticket or password that was presented.
 */
export const loginFlowEventSchemas = {
  'login.flow.rejected': z.object({
    clientId: z.string(),
    organizationId: z.string(),
    reason: z.enum(LOGIN_FLOW_REJECTIONS),
    /** Refusals of this client and reason since the previous event. */
    count: z.number().int().min(1),
    sourceAddress: z.string().optional(),
  }),
  /**
   * Attempts refused by a rate limit or a progressive delay (429). Sampled
   * like refusals: at most one event per client and limit per minute and
   * instance, with the count it stands for and the address of the first.
   * Never the email typed. An existing account that is slowed down (this
   * service's "locked account": it throttles, it never locks) is named by its
   * id, on the account's own `userlogins-<userId>` stream beside its failed
   * logins, sampled per account; an account that does not exist is not named
   * (the event goes to the client's stream, as before).
   */
  'login.throttled': z.object({
    limit: z.enum(THROTTLE_LIMITS),
    clientId: z.string().optional(),
    sourceAddress: z.string().optional(),
    count: z.number().int().min(1),
    /** The existing account slowed down, and its organization; absent for source limits and for accounts that do not exist. */
    userId: z.string().optional(),
    organizationId: z.string().optional(),
  }),
  /**
   * A federated login's sealed state was used (GET /oidc/callback): appended
   * with expected revision no_stream on `federationstate-<id>`, so a state is
   * used once across any number of instances. No code, token or cookie in it.
   */
  'login.federation.state.consumed': z.object({ stateId: z.string(), clientId: z.string(), providerID: z.string() }),
  /**
   * A login that ended in a code for the client, on `userlogins-<userId>`:
   * who signed in where, and how. Failed attempts of an existing account are
   * `user.login.failed`; attempts on accounts that do not exist are not written
   * (a flood of made-up emails must not grow the log), and throttled or
   * foreign-flow attempts are sampled (login.flow.rejected, login.throttled).
   */
  'user.login.succeeded': z.object({
    userId: z.string(),
    organizationId: z.string(),
    method: z.enum(['password', 'federated']),
    /** The provider of a federated login (an organization provider's id, or a platform provider's) and its issuer. */
    providerID: z.string().optional(),
    issuer: z.string().optional(),
    /** Absent in version 1 (credentials streams of older logs). */
    clientId: z.string().optional(),
    sourceAddress: z.string().optional(),
    userAgent: z.string().max(512).optional(),
  }),
  /**
   * A login of an existing account that did not end in a code, on
   * `userlogins-<userId>`: why (never the password tried), how, from where. Its
   * rate is bounded by the per-account and per-source throttling: beyond a few
   * free failures each one waits longer (docs/retention.md).
   */
  'user.login.failed': z.object({
    userId: z.string(),
    organizationId: z.string(),
    method: z.enum(['password', 'federated']),
    reason: z.enum(['wrong_password', 'account_suspended', 'account_pending']),
    providerID: z.string().optional(),
    issuer: z.string().optional(),
    /** Absent in version 1 (credentials streams of older logs). */
    clientId: z.string().optional(),
    sourceAddress: z.string().optional(),
    userAgent: z.string().max(512).optional(),
  }),
} as const;

/**
 * Version 1 of both login types was written to credentials streams by the
 * password lockout of early versions: `{userId, organizationId}` (and
 * `consecutiveFailures` for a failure). Version 2 says how and why; a version
 * 1 event was a password login, and a failure a wrong password.
 */
export function upcastLoginV1(data: unknown): unknown {
  const { userId, organizationId, method } = data as { userId: string; organizationId: string; method?: string };
  // Written by this version before the upcaster existed: already the new shape.
  if (method !== undefined) return data;
  return { userId, organizationId, method: 'password' };
}
export const upcastLoginFailedV1 = (data: unknown): unknown => {
  const upcast = upcastLoginV1(data) as Record<string, unknown>;
  return 'reason' in upcast ? upcast : { ...upcast, reason: 'wrong_password' };
};

type Schemas = typeof loginFlowEventSchemas;
export type LoginFlowEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

/** One audit stream per client: the refusals of its login flows; `platform` for what no client asked (a user's own password change). */
export const loginAuditStream = (clientId: string): string => `loginaudit-${clientId}`;

/** One stream per federated login's state: its first event consumes it. */
export const federationStateStream = (stateId: string): string => `federationstate-${stateId}`;
/** A user's successful logins. */
export const userLoginsStream = (userId: string): string => `userlogins-${userId}`;
