import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { changePassword, credentialDecider, replaceTemporaryPassword } from '../../src/domain/credentials/decider.js';
import type { CredentialEvent } from '../../src/domain/credentials/events.js';
import { MAX_REUSE_DISALLOW_LIMIT } from '../../src/domain/credentials/password-policy.js';
import { ConflictError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(credentialDecider);
const user = { userId: 'user-1', organizationId: 'org-1' };
const now = new Date('2026-01-01T00:00:00.000Z');
const set = (temporary = false): CredentialEvent => ({ type: 'user.password.changed', data: { ...user, passwordHash: 'scrypt$h', temporary } });
// As older versions wrote them, once upcast (src/domain/upcasting.ts): a wrong password.
const failed = (_consecutiveFailures: number): CredentialEvent => ({ type: 'user.login.failed', data: { ...user, method: 'password', reason: 'wrong_password' } });
const until = new Date(now.getTime() + 15 * 60_000).toISOString();
const locked: CredentialEvent = { type: 'user.locked', data: { ...user, until } };

describe('credentials decider', () => {
  test('failures and locks written by older versions change nothing: no lock outlives the upgrade', () => {
    const state = given([set(), failed(1), failed(2), failed(3), locked]).state;
    assert.deepEqual(state, { status: 'set', passwordHash: 'scrypt$h', temporary: false, recent: ['scrypt$h'] });
  });

  test('a new password replaces the old one', () => {
    assert.deepEqual(given([set(), set(true)]).state, { status: 'set', passwordHash: 'scrypt$h', temporary: true, recent: ['scrypt$h'] });
    assert.deepEqual(changePassword(user, 'scrypt$x', true), [{ type: 'user.password.changed', data: { ...user, passwordHash: 'scrypt$x', temporary: true } }]);
  });

  test('a temporary password is replaced once, by the user', () => {
    given([set(true)])
      .when((s) => replaceTemporaryPassword(s, user, 'scrypt$new'))
      .then([{ type: 'user.password.changed', data: { ...user, passwordHash: 'scrypt$new', temporary: false } }]);
    given([set(true), set(false)]).when((s) => replaceTemporaryPassword(s, user, 'scrypt$again')).thenThrows(ConflictError);
    given([]).when((s) => replaceTemporaryPassword(s, user, 'scrypt$new')).thenThrows(ConflictError);
  });

  test('the state keeps the latest own passwords, newest first, at most 24; temporary ones take no place', () => {
    const own = (n: number): CredentialEvent => ({ type: 'user.password.changed', data: { ...user, passwordHash: `scrypt$${n}`, temporary: false } });
    assert.deepEqual(given([own(1), set(true), own(2)]).state.recent, ['scrypt$2', 'scrypt$1']);
    const thirty = Array.from({ length: 30 }, (_, i) => own(i + 1));
    const { recent } = given(thirty).state;
    assert.equal(recent.length, MAX_REUSE_DISALLOW_LIMIT);
    assert.equal(recent[0], 'scrypt$30');
    assert.equal(recent.at(-1), 'scrypt$7');
    assert.deepEqual(given([]).state, { status: 'none', recent: [] });
  });
});
