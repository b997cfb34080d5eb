import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { linkIdentity, MAX_LINKED_IDENTITIES, unlinkIdentity, updateUser, userDecider } from '../../src/domain/user/decider.js';
import type { LinkedIdentity, UserEvent } from '../../src/domain/user/events.js';
import { InvalidCommandError, NotFoundError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(userDecider);
const userId = 'user-1';
const organizationId = 'org-1';
const details = { name: 'ada', tags: [], subject: 'ada@example.com', state: 'active' as const };
const created: UserEvent = { type: 'user.created', data: { userId, organizationId, ...details } };
const identity: LinkedIdentity = { identityId: 'id-1', issuer: 'https://idp.example.com', subject: 'upstream-1', providerID: 'p-1', linkedAt: '2026-01-01T00:00:00.000Z' };
const linked: UserEvent = { type: 'user.identity.linked', data: { userId, organizationId, identity } };

describe('user decider: federated identities', () => {
  test('links an identity; the same pair again changes nothing', () => {
    given([created]).when((s) => linkIdentity(s, { userId, organizationId, identity })).then([linked]);
    given([created, linked]).when((s) => linkIdentity(s, { userId, organizationId, identity: { ...identity, identityId: 'id-2' } })).then([]);
  });

  test('another subject of the same issuer is another identity', () => {
    const other = { ...identity, identityId: 'id-2', subject: 'upstream-2' };
    given([created, linked]).when((s) => linkIdentity(s, { userId, organizationId, identity: other })).then([
      { type: 'user.identity.linked', data: { userId, organizationId, identity: other } },
    ]);
  });

  test('a user of another organization, or no user, is not found', () => {
    given([created]).when((s) => linkIdentity(s, { userId, organizationId: 'org-2', identity })).thenThrows(NotFoundError);
    given([]).when((s) => linkIdentity(s, { userId, organizationId, identity })).thenThrows(NotFoundError);
  });

  test('at most MAX_LINKED_IDENTITIES', () => {
    const many = Array.from({ length: MAX_LINKED_IDENTITIES }, (_, i): UserEvent => ({
      type: 'user.identity.linked',
      data: { userId, organizationId, identity: { ...identity, identityId: `id-${i}`, subject: `s-${i}` } },
    }));
    given([created, ...many]).when((s) => linkIdentity(s, { userId, organizationId, identity: { ...identity, subject: 'one-more' } })).thenThrows(InvalidCommandError);
  });

  test('unlinks a linked identity; an unknown one is not found', () => {
    given([created, linked])
      .when((s) => unlinkIdentity(s, { userId, organizationId, identityId: 'id-1' }))
      .then([{ type: 'user.identity.unlinked', data: { userId, organizationId, identityId: 'id-1', issuer: identity.issuer, subject: identity.subject } }]);
    given([created, linked]).when((s) => unlinkIdentity(s, { userId, organizationId, identityId: 'id-9' })).thenThrows(NotFoundError);
    const unlinked: UserEvent = { type: 'user.identity.unlinked', data: { userId, organizationId, identityId: 'id-1', issuer: identity.issuer, subject: identity.subject } };
    given([created, linked, unlinked]).when((s) => unlinkIdentity(s, { userId, organizationId, identityId: 'id-1' })).thenThrows(NotFoundError);
  });

  test('a whole-state update carries the identities, so a load that starts at it keeps them', () => {
    const events = userDecider.evolve(userDecider.evolve(userDecider.initialState(), created), linked);
    const update = updateUser(events, { userId, organizationId, ...details, state: 'suspended' });
    assert.deepEqual((update[0]!.data as { identities?: LinkedIdentity[] }).identities, [identity]);
    // Folded from that event alone (an opening balance), the identity is still there.
    const fromOpening = userDecider.evolve(userDecider.initialState(), update[0]!);
    assert.equal(fromOpening.status === 'exists' && fromOpening.identities.length, 1);
  });
});
