import { z } from 'zod';

/** Why a step of a login was refused because it did not belong to the flow it claimed. */
export const LOGIN_FLOW_REJECTIONS = [
  'ticket_not_for_this_flow',
  'account_not_in_client_organization',
  'choice_not_for_this_flow',
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
   * like refusals: at most one event per stream, limit and source per minute
   * and instance, with the count it stands for. Never names the account tried
   * (it may not exist, and the event must not tell).
   */
  'login.throttled': z.object({
    limit: z.enum(THROTTLE_LIMITS),
    clientId: z.string().optional(),
    sourceAddress: z.string().optional(),
    count: z.number().int().min(1),
  }),
} as const;

type Schemas = typeof loginFlowEventSchemas;
export type LoginFlowEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

/** One audit stream per client: the refusals of its login flows; `platform` for what no client asked (a user's own password change). */
export const loginAuditStream = (clientId: string): string => `loginaudit-${clientId}`;
