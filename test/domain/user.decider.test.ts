import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createUser, deleteUser, isUserOf, updateUser, userDecider } from '../../src/domain/user/decider.js';
import type { UserEvent } from '../../src/domain/user/events.js';
import { ConflictError, NotFoundError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(userDecider);
const userId = 'user-1';
const organizationId = 'org-1';
const details = { name: 'ada', description: 'Ada L.', tags: [], subject: 'Ada@Example.com', state: 'active' as const };
const command = { userId, organizationId, ...details };
const created: UserEvent = { type: 'user.created', data: { userId, organizationId, ...details } };
const deleted: UserEvent = { type: 'user.deleted', data: { userId, organizationId, subject: 'Ada@Example.com' } };
const activity: UserEvent = { type: 'user.activity.recorded', data: { userId, organizationId, at: '2024-01-01T00:00:00.000Z' } };

describe('user decider', () => {
  test('creates a user, keeping the subject as given', () => {
    given([]).when((s) => createUser(s, command)).then([created]);
    given([created]).when((s) => createUser(s, command)).thenThrows(ConflictError);
  });

  test('updates its subject and state, and records nothing when nothing changed', () => {
    given([created])
      .when((s) => updateUser(s, { ...command, subject: 'ada@example.org', state: 'suspended' }))
      .then([{ type: 'user.updated', data: { userId, organizationId, ...details, subject: 'ada@example.org', state: 'suspended' } }]);
    given([created, activity]).when((s) => updateUser(s, command)).then([]);
  });

  test('a user of another organization, or a deleted one, is not found', () => {
    given([created]).when((s) => updateUser(s, { ...command, organizationId: 'org-2' })).thenThrows(NotFoundError);
    given([created]).when((s) => deleteUser(s, { userId, organizationId: 'org-2' })).thenThrows(NotFoundError);
    given([created, deleted]).when((s) => updateUser(s, command)).thenThrows(NotFoundError);
    given([created, deleted]).when((s) => deleteUser(s, { userId, organizationId })).thenThrows(NotFoundError);
    given([]).when((s) => deleteUser(s, { userId, organizationId })).thenThrows(NotFoundError);
  });

  test('deletes a user, carrying its subject so that it can be freed', () => {
    given([created]).when((s) => deleteUser(s, { userId, organizationId })).then([deleted]);
  });

  test('isUserOf tells members of an organization from everyone else', () => {
    assert.equal(isUserOf(given([created]).state, organizationId), true);
    assert.equal(isUserOf(given([created]).state, 'org-2'), false);
    assert.equal(isUserOf(given([created, deleted]).state, organizationId), false);
    assert.equal(isUserOf(given([]).state, organizationId), false);
  });
});
