import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addGroupMember,
  createGroup,
  deleteGroup,
  groupDecider,
  removeGroupMember,
  updateGroup,
} from '../../src/domain/group/decider.js';
import type { GroupEvent } from '../../src/domain/group/events.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(groupDecider);
const groupId = 'group-1';
const organizationId = 'org-1';
const details = {
  name: 'admins',
  description: 'The administrators',
  tags: [{ name: 'team', value: 'ops' }],
  roleIDs: ['administrator'],
  userIDs: ['user-1'],
  serviceAccountIDs: [],
};
const command = { groupId, organizationId, ...details };
const created: GroupEvent = { type: 'group.created', data: { groupId, organizationId, ...details } };
const deleted: GroupEvent = { type: 'group.deleted', data: { groupId, organizationId, name: 'admins' } };
const user2 = { kind: 'user' as const, id: 'user-2' };

describe('group decider', () => {
  test('creates a group with its whole state, lists without duplicates', () => {
    given([]).when((s) => createGroup(s, command)).then([created]);
    given([])
      .when((s) => createGroup(s, { ...command, roleIDs: ['user', 'user'], userIDs: ['a', 'b', 'a'] }))
      .then([{ type: 'group.created', data: { groupId, organizationId, ...details, roleIDs: ['user'], userIDs: ['a', 'b'] } }]);
  });

  test('omits an absent description rather than recording undefined', () => {
    const { description: _d, ...bare } = command;
    given([]).when((s) => createGroup(s, bare)).then([{ type: 'group.created', data: { groupId, organizationId, name: 'admins', tags: details.tags, roleIDs: ['administrator'], userIDs: ['user-1'], serviceAccountIDs: [] } }]);
  });

  test('refuses to create it twice', () => {
    given([created]).when((s) => createGroup(s, command)).thenThrows(ConflictError);
  });

  test('accepts only built-in roles, never platform-administrator', () => {
    given([]).when((s) => createGroup(s, { ...command, roleIDs: ['root'] })).thenThrows(InvalidCommandError, /unknown role root/);
    given([]).when((s) => createGroup(s, { ...command, roleIDs: ['platform-administrator'] })).thenThrows(InvalidCommandError, /platform-administrator/);
    given([created]).when((s) => updateGroup(s, { ...command, roleIDs: ['platform-administrator'] })).thenThrows(InvalidCommandError);
  });

  test('updates with the full state, and records nothing when nothing changed', () => {
    given([created])
      .when((s) => updateGroup(s, { ...command, roleIDs: ['reader'], userIDs: [] }))
      .then([{ type: 'group.updated', data: { groupId, organizationId, ...details, roleIDs: ['reader'], userIDs: [] } }]);
    given([created]).when((s) => updateGroup(s, command)).then([]);
  });

  test('a group of another organization, or a deleted one, is not found', () => {
    given([created]).when((s) => updateGroup(s, { ...command, organizationId: 'org-2' })).thenThrows(NotFoundError);
    given([created]).when((s) => deleteGroup(s, { groupId, organizationId: 'org-2' })).thenThrows(NotFoundError);
    given([created, deleted]).when((s) => updateGroup(s, command)).thenThrows(NotFoundError);
    given([created, deleted]).when((s) => deleteGroup(s, { groupId, organizationId })).thenThrows(NotFoundError);
    given([]).when((s) => deleteGroup(s, { groupId, organizationId })).thenThrows(NotFoundError);
  });

  test('deletes a group, naming it', () => {
    given([created]).when((s) => deleteGroup(s, { groupId, organizationId })).then([deleted]);
  });

  test('adds a member once', () => {
    given([created])
      .when((s) => addGroupMember(s, { groupId, organizationId, member: user2 }))
      .then([{ type: 'group.updated', data: { groupId, organizationId, ...details, userIDs: ['user-1', 'user-2'] } }]);
    given([created])
      .when((s) => addGroupMember(s, { groupId, organizationId, member: { kind: 'serviceAccount', id: 'sa-1' } }))
      .then([{ type: 'group.updated', data: { groupId, organizationId, ...details, serviceAccountIDs: ['sa-1'] } }]);
    given([created]).when((s) => addGroupMember(s, { groupId, organizationId, member: { kind: 'user', id: 'user-1' } })).then([]);
    given([created]).when((s) => addGroupMember(s, { groupId, organizationId: 'org-2', member: user2 })).thenThrows(NotFoundError);
  });

  test('removes a member; nothing to do when absent or the group is gone', () => {
    given([created])
      .when((s) => removeGroupMember(s, { groupId, organizationId, member: { kind: 'user', id: 'user-1' } }))
      .then([{ type: 'group.updated', data: { groupId, organizationId, ...details, userIDs: [] } }]);
    given([created]).when((s) => removeGroupMember(s, { groupId, organizationId, member: user2 })).then([]);
    given([created, deleted]).when((s) => removeGroupMember(s, { groupId, organizationId, member: { kind: 'user', id: 'user-1' } })).then([]);
    // A user id in the service account list is a different member.
    given([created]).when((s) => removeGroupMember(s, { groupId, organizationId, member: { kind: 'serviceAccount', id: 'user-1' } })).then([]);
  });

  test('folds to the state the events describe', () => {
    const state = given([created]).state;
    assert.equal(state.status, 'active');
    assert.deepEqual(given([created, deleted]).state, { status: 'deleted', id: groupId, organizationId, name: 'admins' });
  });
});
