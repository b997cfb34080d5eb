import { z } from 'zod';
import { openingBalances, type SnapshotPolicy } from '../../ports/snapshots.js';
import { assertNever, type Decider } from '../shared/decider.js';

/**
 * Every account (user) has a stable integer number, unique platform-wide: the
 * integer `id` of the accounts API (seed 002, docs/accounts.md). Unique across
 * organizations, so another organization's number is simply not found in
 * mine (never someone else's account of the same number). One counter
 * stream hands them out, appended at its expected revision,
 * so two concurrent draws never get the same number; the user's own stream
 * then records the number it drew (`user.account_number.assigned`, once).
 * A draw whose assignment lost a race is a number never used: numbers are
 * never reused, not necessarily dense.
 *
 * Each `account_number.drawn` carries the counter's whole state (the number
 * drawn is the last one), so a load reads only the newest event: a draw costs
 * the same after a million accounts as after one.
 */
export const FIRST_ACCOUNT_NUMBER = 1;

export const ACCOUNT_NUMBERS_STREAM = 'accountnumbers-counter';

export const accountNumberEventSchemas = {
  /** The counter handed the next number to a user (of that organization). */
  'account_number.drawn': z.object({ organizationId: z.string(), userId: z.string(), accountNumber: z.number().int().positive() }),
} as const;

type Schemas = typeof accountNumberEventSchemas;
export type AccountNumberEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

export interface AccountNumbersState {
  readonly last: number;
  /** The user the last number went to: a retried draw for the same user gets the same number. */
  readonly lastUserId?: string;
}

export const accountNumbersDecider: Decider<AccountNumbersState, AccountNumberEvent> & { readonly snapshot: SnapshotPolicy<AccountNumbersState, AccountNumberEvent> } = {
  snapshot: openingBalances<AccountNumbersState, AccountNumberEvent>('accountnumbers-1', ['account_number.drawn']),
  initialState: () => ({ last: FIRST_ACCOUNT_NUMBER - 1 }),
  evolve(state, event) {
    switch (event.type) {
      case 'account_number.drawn':
        return { last: Math.max(state.last, event.data.accountNumber), lastUserId: event.data.userId };
      default:
        return assertNever(event.type as never);
    }
  },
};

/** The next number for the user (the same again when the last draw was its own). */
export function drawAccountNumber(state: AccountNumbersState, command: { organizationId: string; userId: string }): AccountNumberEvent[] {
  if (state.lastUserId === command.userId) return [];
  return [{ type: 'account_number.drawn', data: { organizationId: command.organizationId, userId: command.userId, accountNumber: state.last + 1 } }];
}
