import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createUser, updateUser, userDecider } from '../../src/domain/user/decider.js';
import type { UserEvent } from '../../src/domain/user/events.js';
import { InvalidCommandError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(userDecider);
const userId = 'user-1';
const organizationId = 'org-1';
const details = { name: 'jane', tags: [], subject: 'jane@example.com', state: 'active' as const };
const command = { userId, organizationId, ...details };
/** As every version before login names wrote it. */
const oldCreated: UserEvent = { type: 'user.created', data: { userId, organizationId, ...details } };

describe('user decider: login names (docs/compat.md)', () => {
  test('a login name is recorded beside the subject, and carried by every whole-state event', () => {
    const created: UserEvent = { type: 'user.created', data: { userId, organizationId, ...details, loginName: 'jane' } };
    given([]).when((s) => createUser(s, { ...command, loginName: 'jane' })).then([created]);
    given([created])
      .when((s) => updateUser(s, { ...command, loginName: 'jane', state: 'suspended' }))
      .then([{ type: 'user.updated', data: { userId, organizationId, ...details, loginName: 'jane', state: 'suspended' } }]);
    given([created]).when((s) => updateUser(s, { ...command, loginName: 'jane' })).then([]);
    const state = [created].reduce(userDecider.evolve, userDecider.initialState());
    assert.equal(state.status === 'exists' && state.loginName, 'jane');
  });

  test('events written before login names fold to a user without one; adding one is an update', () => {
    const state = [oldCreated].reduce(userDecider.evolve, userDecider.initialState());
    assert.equal(state.status, 'exists');
    assert.ok(!('loginName' in state) || (state as { loginName?: string }).loginName === undefined);
    given([oldCreated]).when((s) => updateUser(s, command)).then([]);
    given([oldCreated])
      .when((s) => updateUser(s, { ...command, loginName: 'jane' }))
      .then([{ type: 'user.updated', data: { userId, organizationId, ...details, loginName: 'jane' } }]);
  });

  test('a login name is never an email address', () => {
    given([]).when((s) => createUser(s, { ...command, loginName: 'other@example.com' })).thenThrows(InvalidCommandError, /@/);
    given([oldCreated]).when((s) => updateUser(s, { ...command, loginName: 'a@b' })).thenThrows(InvalidCommandError);
  });
});
