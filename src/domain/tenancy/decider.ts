import { z } from 'zod';
import { assertNever, type Decider } from '../shared/decider.js';

/**
 * Every organization has a numeric tenant number (the `tenantId` of the
 * compatible APIs, docs/compat.md): assigned once, never reused, never
 * changed. The numbers are handed out by one counter stream, appended at its
 * expected revision, so two concurrent assignments never draw the same number;
 * the organization's own stream then records the number it drew
 * (`organization.tenant_number.assigned`).
 */
export const FIRST_TENANT_NUMBER = 1001;

export const TENANT_NUMBERS_STREAM = 'tenantnumbers-counter';

export const tenantNumberEventSchemas = {
  /** The counter handed the next number to an organization. */
  'tenant_number.drawn': z.object({ organizationId: z.string(), tenantId: z.number().int().positive() }),
} as const;

type Schemas = typeof tenantNumberEventSchemas;
export type TenantNumberEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

export interface TenantNumbersState {
  readonly last: number;
  /** The number each organization drew, so that a retried draw gets the same one. */
  readonly drawn: Readonly<Record<string, number>>;
}

export const tenantNumbersDecider: Decider<TenantNumbersState, TenantNumberEvent> = {
  initialState: () => ({ last: FIRST_TENANT_NUMBER - 1, drawn: {} }),
  evolve(state, event) {
    switch (event.type) {
      case 'tenant_number.drawn': {
        // The map is extended in place, not copied: copying it on every event made a fold of n
        // organizations cost n² (every draw folds the whole counter). A fold owns its state
        // (it starts from initialState() each time: this stream has no cached state).
        const drawn = state.drawn as Record<string, number>;
        drawn[event.data.organizationId] = event.data.tenantId;
        return { last: Math.max(state.last, event.data.tenantId), drawn };
      }
      default:
        return assertNever(event.type as never);
    }
  },
};

/** The organization's number: the one it already drew, or the next one. */
export function drawTenantNumber(state: TenantNumbersState, command: { organizationId: string }): TenantNumberEvent[] {
  if (Object.hasOwn(state.drawn, command.organizationId)) return [];
  return [{ type: 'tenant_number.drawn', data: { organizationId: command.organizationId, tenantId: state.last + 1 } }];
}

export const tenantNumberOf = (state: TenantNumbersState, organizationId: string): number | undefined =>
  Object.hasOwn(state.drawn, organizationId) ? state.drawn[organizationId] : undefined;
