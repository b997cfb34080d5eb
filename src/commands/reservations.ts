import type { CommandMetadata } from '../domain/shared/decider.js';
import {
  claimReservation,
  releaseReservation,
  reservationDecider,
  reservationStream,
} from '../domain/reservation/decider.js';
import type { EventStore } from '../ports/event-store.js';
import { handleCommand, loadState } from './pipeline.js';

/** A claim older than this whose owner never wrote its first event was left by a crash. */
const ABANDONED_AFTER_MS = 60_000;

/**
 * Claim a unique value for an owner, on the write side. `ownerStream` is the
 * stream the owner's first event goes to: a claim whose owner stream is still
 * empty a minute later was abandoned (the process died in between) and may be
 * taken over.
 */
export async function claimUnique(
  store: EventStore,
  claim: { scope: string; value: string; ownerId: string },
  ownerStream: (ownerId: string) => string,
  meta: CommandMetadata,
): Promise<void> {
  const stream = reservationStream(claim.scope, claim.value);
  const { state } = await loadState(store, stream, reservationDecider);
  let abandonedOwner: string | undefined;
  if (state.status === 'held' && state.ownerId !== claim.ownerId) {
    const old = meta.now.getTime() - Date.parse(state.claimedAt) > ABANDONED_AFTER_MS;
    const ownerNeverWrote = old && (await store.readStream(ownerStream(state.ownerId), { maxCount: 1 })).length === 0;
    if (ownerNeverWrote) abandonedOwner = state.ownerId;
  }
  await handleCommand(
    store,
    stream,
    reservationDecider,
    (current) =>
      claimReservation(current, { ...claim, isAbandoned: (holder) => holder.ownerId === abandonedOwner }, meta.now),
    meta,
  );
}

export async function releaseUnique(
  store: EventStore,
  claim: { scope: string; value: string; ownerId: string },
  meta: CommandMetadata,
): Promise<void> {
  await handleCommand(store, reservationStream(claim.scope, claim.value), reservationDecider, (state) => releaseReservation(state, claim), meta);
}
