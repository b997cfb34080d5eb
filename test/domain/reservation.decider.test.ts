import { describe, test } from 'node:test';
import { claimReservation, releaseReservation, reservationDecider, type ReservationEvent } from '../../src/domain/reservation/decider.js';
import { ConflictError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(reservationDecider);
const now = new Date('2026-01-01T00:00:00.000Z');
const claimedBy = (ownerId: string): ReservationEvent => ({
  type: 'reservation.claimed',
  data: { scope: 'organization-name', value: 'acme', ownerId, claimedAt: now.toISOString() },
});

describe('reservation decider', () => {
  test('a free value is claimed, case-insensitively', () => {
    given([]).when((s) => claimReservation(s, { scope: 'organization-name', value: 'ACME', ownerId: 'a' }, now)).then([claimedBy('a')]);
  });

  test('a held value cannot be claimed by another owner', () => {
    given([claimedBy('a')]).when((s) => claimReservation(s, { scope: 'organization-name', value: 'acme', ownerId: 'b' }, now)).thenThrows(ConflictError, /already taken/);
  });

  test('the holder claiming again changes nothing', () => {
    given([claimedBy('a')]).when((s) => claimReservation(s, { scope: 'organization-name', value: 'acme', ownerId: 'a' }, now)).then([]);
  });

  test('an abandoned claim may be taken over', () => {
    given([claimedBy('a')])
      .when((s) => claimReservation(s, { scope: 'organization-name', value: 'acme', ownerId: 'b', isAbandoned: (h) => h.ownerId === 'a' }, now))
      .then([claimedBy('b')]);
  });

  test('only the holder releases, and a released value is free again', () => {
    const released: ReservationEvent = { type: 'reservation.released', data: { scope: 'organization-name', value: 'acme', ownerId: 'a' } };
    given([claimedBy('a')]).when((s) => releaseReservation(s, { scope: 'organization-name', value: 'acme', ownerId: 'b' })).then([]);
    given([claimedBy('a')]).when((s) => releaseReservation(s, { scope: 'organization-name', value: 'acme', ownerId: 'a' })).then([released]);
    given([claimedBy('a'), released]).when((s) => claimReservation(s, { scope: 'organization-name', value: 'acme', ownerId: 'b' }, now)).then([claimedBy('b')]);
  });
});
