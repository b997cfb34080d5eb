import { z } from 'zod';

/** Why a step of a login was refused because it did not belong to the flow it claimed. */
export const LOGIN_FLOW_REJECTIONS = [
  'ticket_not_for_this_flow',
  'account_not_in_client_organization',
  'choice_not_for_this_flow',
] as const;
export type LoginFlowRejection = (typeof LOGIN_FLOW_REJECTIONS)[number];

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
} as const;

type Schemas = typeof loginFlowEventSchemas;
export type LoginFlowEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

/** One audit stream per client: the refusals of its login flows. */
export const loginAuditStream = (clientId: string): string => `loginaudit-${clientId}`;
