import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  changePassword,
  credentialDecider,
  isLocked,
  recordLoginFailure,
  recordLoginSuccess,
  replaceTemporaryPassword,
} from '../../src/domain/credentials/decider.js';
import type { CredentialEvent } from '../../src/domain/credentials/events.js';
import { ConflictError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(credentialDecider);
const user = { userId: 'user-1', organizationId: 'org-1' };
const policy = { maxFailures: 3, lockMinutes: 15 };
const now = new Date('2026-01-01T00:00:00.000Z');
const set = (temporary = false): CredentialEvent => ({ type: 'user.password.changed', data: { ...user, passwordHash: 'scrypt$h', temporary } });
const failed = (consecutiveFailures: number): CredentialEvent => ({ type: 'user.login.failed', data: { ...user, consecutiveFailures } });
const until = new Date(now.getTime() + 15 * 60_000).toISOString();
const locked: CredentialEvent = { type: 'user.locked', data: { ...user, until } };

describe('credentials decider', () => {
  test('failures count up; the one that reaches the limit locks the account for lockMinutes', () => {
    given([set()]).when((s) => recordLoginFailure(s, user, policy, now)).then([failed(1)]);
    given([set(), failed(1)]).when((s) => recordLoginFailure(s, user, policy, now)).then([failed(2)]);
    given([set(), failed(1), failed(2)]).when((s) => recordLoginFailure(s, user, policy, now)).then([failed(3), locked]);
  });

  test('a lock holds until its time, and then the count starts over', () => {
    const state = given([set(), failed(1), failed(2), failed(3), locked]).state;
    assert.equal(isLocked(state, now), true);
    assert.equal(isLocked(state, new Date(Date.parse(until) - 1)), true);
    assert.equal(isLocked(state, new Date(until)), false);
    given([set(), failed(1), failed(2), failed(3), locked]).when((s) => recordLoginFailure(s, user, policy, new Date(until))).then([failed(1)]);
  });

  test('a success after failures, or after a lock, is recorded; otherwise nothing is', () => {
    given([set()]).when((s) => recordLoginSuccess(s, user)).then([]);
    given([set(), failed(1)]).when((s) => recordLoginSuccess(s, user)).then([{ type: 'user.login.succeeded', data: user }]);
    const state = given([set(), failed(1), { type: 'user.login.succeeded', data: user }]).state;
    assert.equal(state.failures, 0);
  });

  test('a new password clears the failures and the lock', () => {
    const state = given([set(), failed(1), failed(2), failed(3), locked, set(true)]).state;
    assert.equal(isLocked(state, now), false);
    assert.equal(state.failures, 0);
    assert.deepEqual(changePassword(user, 'scrypt$x', true), [{ type: 'user.password.changed', data: { ...user, passwordHash: 'scrypt$x', temporary: true } }]);
  });

  test('a temporary password is replaced once, by the user', () => {
    given([set(true)])
      .when((s) => replaceTemporaryPassword(s, user, 'scrypt$new'))
      .then([{ type: 'user.password.changed', data: { ...user, passwordHash: 'scrypt$new', temporary: false } }]);
    given([set(true), set(false)]).when((s) => replaceTemporaryPassword(s, user, 'scrypt$again')).thenThrows(ConflictError);
    given([]).when((s) => replaceTemporaryPassword(s, user, 'scrypt$new')).thenThrows(ConflictError);
  });
});
