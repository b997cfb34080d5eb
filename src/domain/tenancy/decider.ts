import { z } from 'zod';
import { openingBalances, type SnapshotPolicy } from '../../ports/snapshots.js';
import { assertNever, type Decider } from '../shared/decider.js';

/**
 * Every organization has a numeric tenant number (the `tenantId` of the
 * compatible APIs, docs/compat.md): assigned once, never reused, never
 * changed. The numbers are handed out by one counter stream, appended at its
 * expected revision, so two concurrent assignments never draw the same number;
 * the organization's own stream then records the number it drew
 * (`organization.tenant_number.assigned`, once).
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
  /** The organization the last number went to: a retried draw for the same organization gets the same number. */
  readonly lastOrganizationId?: string;
}

/**
 * Each `tenant_number.drawn` carries the counter's whole state (the number
 * drawn is the last one, numbers only grow), so a load reads the stream
 * backwards to its newest event only: a draw costs the same after a million
 * organizations as after one. (Version 1 kept every organization's number in
 * the state, and every draw folded the whole stream.)
 *
 * Which number an organization has is its own stream's business
 * (`organization.tenant_number.assigned`, checked before a draw). A draw whose
 * assignment never landed (a crash in between) is drawn again as the same
 * number when it is still the counter's last; otherwise that number stays
 * unused: numbers are unique and never reused, not necessarily dense.
 */
export const tenantNumbersDecider: Decider<TenantNumbersState, TenantNumberEvent> & { readonly snapshot: SnapshotPolicy<TenantNumbersState, TenantNumberEvent> } = {
  snapshot: openingBalances<TenantNumbersState, TenantNumberEvent>('tenantnumbers-2', ['tenant_number.drawn']),
  initialState: () => ({ last: FIRST_TENANT_NUMBER - 1 }),
  evolve(state, event) {
    switch (event.type) {
      case 'tenant_number.drawn':
        return { last: Math.max(state.last, event.data.tenantId), lastOrganizationId: event.data.organizationId };
      default:
        return assertNever(event.type as never);
    }
  },
};

/** The next number for the organization (the same again when the last draw was its own). */
export function drawTenantNumber(state: TenantNumbersState, command: { organizationId: string }): TenantNumberEvent[] {
  if (state.lastOrganizationId === command.organizationId) return [];
  return [{ type: 'tenant_number.drawn', data: { organizationId: command.organizationId, tenantId: state.last + 1 } }];
}

/** The number the counter's last draw gave the organization, if the last draw was its own. */
export const tenantNumberOf = (state: TenantNumbersState, organizationId: string): number | undefined =>
  state.lastOrganizationId === organizationId ? state.last : undefined;
