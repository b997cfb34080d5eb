import { z } from 'zod';
import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError } from '../shared/errors.js';

/**
 * A unique value (an organization's name, a user's subject in an organization)
 * is held by one owner at a time. Each value has its own stream, so two
 * concurrent claims meet at the expected revision and only one wins.
 */
export const reservationEventSchemas = {
  'reservation.claimed': z.object({ scope: z.string(), value: z.string(), ownerId: z.string(), claimedAt: z.string() }),
  'reservation.released': z.object({ scope: z.string(), value: z.string(), ownerId: z.string() }),
} as const;

type Schemas = typeof reservationEventSchemas;
export type ReservationEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

export type ReservationState =
  | { readonly status: 'free' }
  | { readonly status: 'held'; readonly ownerId: string; readonly claimedAt: string };

export const reservationDecider: Decider<ReservationState, ReservationEvent> = {
  initialState: () => ({ status: 'free' }),
  evolve(_state, event) {
    switch (event.type) {
      case 'reservation.claimed':
        return { status: 'held', ownerId: event.data.ownerId, claimedAt: event.data.claimedAt };
      case 'reservation.released':
        return { status: 'free' };
      default:
        return assertNever(event);
    }
  },
};

/** Unique values compare without case: "Acme" and "acme" are the same name. */
export const reservationStream = (scope: string, value: string): string =>
  `reservation-${scope}-${encodeURIComponent(value.toLowerCase())}`;

export interface ClaimCommand {
  scope: string;
  value: string;
  ownerId: string;
  /** A claim by another owner that this says is abandoned may be taken over. */
  isAbandoned?: (holder: { ownerId: string; claimedAt: string }) => boolean;
}

export function claimReservation(state: ReservationState, command: ClaimCommand, now: Date): ReservationEvent[] {
  const claimed: ReservationEvent = {
    type: 'reservation.claimed',
    data: { scope: command.scope, value: command.value.toLowerCase(), ownerId: command.ownerId, claimedAt: now.toISOString() },
  };
  switch (state.status) {
    case 'free':
      return [claimed];
    case 'held':
      if (state.ownerId === command.ownerId) return [];
      if (command.isAbandoned?.(state)) return [claimed];
      throw new ConflictError(`${command.scope} "${command.value}" is already taken`);
    default:
      return assertNever(state);
  }
}

export function releaseReservation(
  state: ReservationState,
  command: { scope: string; value: string; ownerId: string },
): ReservationEvent[] {
  if (state.status === 'held' && state.ownerId === command.ownerId) {
    return [{ type: 'reservation.released', data: { scope: command.scope, value: command.value.toLowerCase(), ownerId: command.ownerId } }];
  }
  return [];
}
