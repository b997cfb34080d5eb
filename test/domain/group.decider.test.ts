import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addGroupMember,
  createGroup,
  deleteGroup,
  groupDecider,
  type GroupState,
  groupSnapshots,
  removeGroupMember,
  updateGroup,
} from '../../src/domain/group/decider.js';
import { type GroupEvent, groupEventSchemas } from '../../src/domain/group/events.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../../src/domain/shared/errors.js';
import { eventReader } from '../../src/domain/upcasting.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(groupDecider);
const groupId = 'group-1';
const organizationId = 'org-1';
const scope = { groupId, organizationId };
const lists = { roleIDs: ['administrator'], userIDs: ['user-1'], serviceAccountIDs: [] as string[] };
const own = { name: 'admins', description: 'The administrators', tags: [{ name: 'team', value: 'ops' }] };
const command = { ...scope, ...own, ...lists };
const created: GroupEvent = { type: 'group.created', data: { ...scope, ...own } };
const deleted: GroupEvent = { type: 'group.deleted', data: { groupId, organizationId, name: 'admins' } };
const userAdded = (userId: string): GroupEvent => ({ type: 'group.user.added', data: { ...scope, userId } });
const userRemoved = (userId: string): GroupEvent => ({ type: 'group.user.removed', data: { ...scope, userId } });
const roleAdded = (roleId: string): GroupEvent => ({ type: 'group.role.added', data: { ...scope, roleId } });
const roleRemoved = (roleId: string): GroupEvent => ({ type: 'group.role.removed', data: { ...scope, roleId } });
const saAdded = (serviceAccountId: string): GroupEvent => ({ type: 'group.service_account.added', data: { ...scope, serviceAccountId } });
const saRemoved = (serviceAccountId: string): GroupEvent => ({ type: 'group.service_account.removed', data: { ...scope, serviceAccountId } });
/** The history of the group `command` creates. */
const history: GroupEvent[] = [created, roleAdded('administrator'), userAdded('user-1')];
const user2 = { kind: 'user' as const, id: 'user-2' };

/** A state's lists as sorted arrays, to compare. */
const lists_ = (state: GroupState) => {
  assert.equal(state.status, 'active');
  if (state.status !== 'active') throw new Error('not active');
  return { roleIDs: [...state.roleIDs].sort(), userIDs: [...state.userIDs].sort(), serviceAccountIDs: [...state.serviceAccountIDs].sort() };
};

/** The serialized size of every field of an event that is a list: none may carry a member list. */
const listFields = (event: GroupEvent) => Object.entries(event.data).filter(([, value]) => Array.isArray(value) && value.length > 0 && typeof value[0] === 'string');

describe('group decider', () => {
  test('creates a group with its details, then one event per role and member, duplicates once', () => {
    given([]).when((s) => createGroup(s, command)).then(history);
    given([])
      .when((s) => createGroup(s, { ...command, roleIDs: ['user', 'user'], userIDs: ['a', 'b', 'a'], serviceAccountIDs: ['sa'] }))
      .then([created, roleAdded('user'), userAdded('a'), userAdded('b'), saAdded('sa')]);
  });

  test('omits an absent description rather than recording undefined', () => {
    const { description: _d, ...bare } = command;
    given([]).when((s) => createGroup(s, { ...bare, roleIDs: [], userIDs: [] })).then([{ type: 'group.created', data: { ...scope, name: 'admins', tags: own.tags } }]);
  });

  test('refuses to create it twice', () => {
    given(history).when((s) => createGroup(s, command)).thenThrows(ConflictError);
  });

  test('accepts only built-in roles, never platform-administrator', () => {
    given([]).when((s) => createGroup(s, { ...command, roleIDs: ['root'] })).thenThrows(InvalidCommandError, /unknown role root/);
    given([]).when((s) => createGroup(s, { ...command, roleIDs: ['platform-administrator'] })).thenThrows(InvalidCommandError, /platform-administrator/);
    given(history).when((s) => updateGroup(s, { ...command, roleIDs: ['platform-administrator'] })).thenThrows(InvalidCommandError);
  });

  test('a PUT with new full lists appends exactly the difference, per member', () => {
    given(history)
      .when((s) => updateGroup(s, { ...command, roleIDs: ['reader'], userIDs: ['user-2', 'user-1', 'user-3'], serviceAccountIDs: ['sa-1'] }))
      .then([roleRemoved('administrator'), roleAdded('reader'), userAdded('user-2'), userAdded('user-3'), saAdded('sa-1')]);
    given([...history, saAdded('sa-1')])
      .when((s) => updateGroup(s, { ...command, userIDs: [] }))
      .then([userRemoved('user-1'), saRemoved('sa-1')]);
    // Nothing changed: nothing recorded (the order of a list is not a change).
    given([...history, userAdded('user-2')]).when((s) => updateGroup(s, { ...command, userIDs: ['user-2', 'user-1', 'user-2'] })).then([]);
  });

  test('a change of details is group.updated with the details only', () => {
    given(history)
      .when((s) => updateGroup(s, { ...command, name: 'operators', description: undefined, userIDs: ['user-1', 'user-2'] }))
      .then([{ type: 'group.updated', data: { ...scope, name: 'operators', tags: own.tags } }, userAdded('user-2')]);
    const state = given([...history, { type: 'group.updated', data: { ...scope, name: 'operators', tags: [] } }]).state;
    assert.equal(state.status === 'active' && state.name, 'operators');
    assert.equal(state.status === 'active' && state.description, undefined);
    assert.deepEqual(lists_(state), { roleIDs: ['administrator'], userIDs: ['user-1'], serviceAccountIDs: [] });
  });

  test('a group of another organization, or a deleted one, is not found', () => {
    given(history).when((s) => updateGroup(s, { ...command, organizationId: 'org-2' })).thenThrows(NotFoundError);
    given(history).when((s) => deleteGroup(s, { groupId, organizationId: 'org-2' })).thenThrows(NotFoundError);
    given([...history, deleted]).when((s) => updateGroup(s, command)).thenThrows(NotFoundError);
    given([...history, deleted]).when((s) => deleteGroup(s, { groupId, organizationId })).thenThrows(NotFoundError);
    given([]).when((s) => deleteGroup(s, { groupId, organizationId })).thenThrows(NotFoundError);
  });

  test('deletes a group, naming it', () => {
    given(history).when((s) => deleteGroup(s, { groupId, organizationId })).then([deleted]);
  });

  test('adds a member once', () => {
    given(history).when((s) => addGroupMember(s, { groupId, organizationId, member: user2 })).then([userAdded('user-2')]);
    given(history).when((s) => addGroupMember(s, { groupId, organizationId, member: { kind: 'serviceAccount', id: 'sa-1' } })).then([saAdded('sa-1')]);
    given(history).when((s) => addGroupMember(s, { groupId, organizationId, member: { kind: 'user', id: 'user-1' } })).then([]);
    given(history).when((s) => addGroupMember(s, { groupId, organizationId: 'org-2', member: user2 })).thenThrows(NotFoundError);
  });

  test('removes a member; nothing to do when absent or the group is gone', () => {
    given(history).when((s) => removeGroupMember(s, { groupId, organizationId, member: { kind: 'user', id: 'user-1' } })).then([userRemoved('user-1')]);
    given(history).when((s) => removeGroupMember(s, { groupId, organizationId, member: user2 })).then([]);
    given([...history, deleted]).when((s) => removeGroupMember(s, { groupId, organizationId, member: { kind: 'user', id: 'user-1' } })).then([]);
    // A user id in the service account list is a different member.
    given(history).when((s) => removeGroupMember(s, { groupId, organizationId, member: { kind: 'serviceAccount', id: 'user-1' } })).then([]);
  });

  test('folds to the state the events describe', () => {
    assert.deepEqual(lists_(given(history).state), { roleIDs: ['administrator'], userIDs: ['user-1'], serviceAccountIDs: [] });
    assert.deepEqual(lists_(given([...history, userAdded('user-2'), userRemoved('user-1'), saAdded('sa')]).state), {
      roleIDs: ['administrator'],
      userIDs: ['user-2'],
      serviceAccountIDs: ['sa'],
    });
    assert.deepEqual(given([...history, deleted]).state, { status: 'deleted', id: groupId, organizationId, name: 'admins' });
  });

  test('evolve changes the state in place: one Set entry per member event', () => {
    const state = given(history).state;
    const next = groupDecider.evolve(state, userAdded('user-2'));
    assert.equal(next, state);
    assert.equal(groupDecider.snapshot.evolvesInPlace, true);
  });

  test('3,000 members added one at a time: every event is small, the stream grows linearly', () => {
    let state = groupDecider.initialState();
    const apply = (events: GroupEvent[]) => {
      for (const event of events) state = groupDecider.evolve(state, event);
      return events;
    };
    const written: GroupEvent[] = apply(createGroup(state, { ...scope, ...own, roleIDs: ['user'], userIDs: [], serviceAccountIDs: [] }));
    const members: string[] = [];
    for (let i = 0; i < 3000; i++) {
      members.push(`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
      // The API's PUT: the whole list, every time.
      const events = apply(updateGroup(state, { ...scope, ...own, roleIDs: ['user'], userIDs: members, serviceAccountIDs: [] }));
      assert.deepEqual(events, [userAdded(members.at(-1)!)]);
      written.push(...events);
    }
    let total = 0;
    for (const event of written) {
      assert.deepEqual(listFields(event), [], `${event.type} carries a list`);
      const size = JSON.stringify(event).length;
      assert.ok(size <= 300, `${event.type} is ${size} bytes`);
      total += size;
    }
    assert.ok(total <= 300 * written.length);
    assert.equal(state.status === 'active' && state.userIDs.size, 3000);
  });

  test('events of version 1 (whole lists) still fold: created and updated set the lists', () => {
    const v1 = (type: 'group.created' | 'group.updated', userIDs: string[]) => {
      const read = eventReader.read({ type, data: { ...scope, ...own, roleIDs: ['reader'], userIDs, serviceAccountIDs: ['sa-1'] } });
      assert.ok(read.ok, JSON.stringify(read));
      return { type, data: read.data } as GroupEvent;
    };
    const old = [v1('group.created', ['a', 'b']), v1('group.updated', ['b', 'c'])];
    assert.deepEqual(old[1]!.data, { ...scope, ...own, members: { roleIDs: ['reader'], userIDs: ['b', 'c'], serviceAccountIDs: ['sa-1'] } });
    const state = given([...old, userAdded('d'), userRemoved('b')]).state;
    assert.deepEqual(lists_(state), { roleIDs: ['reader'], userIDs: ['c', 'd'], serviceAccountIDs: ['sa-1'] });
    // An old whole-state update opens the stream; a new one (details only) does not.
    assert.equal(groupSnapshots.opens!(old[1]!), true);
    assert.equal(groupSnapshots.opens!({ type: 'group.updated', data: { ...scope, name: 'x', tags: [] } }), false);
    assert.equal(groupSnapshots.opens!(userAdded('x')), false);
    // New events are written at version 2 and never carry lists.
    assert.equal(eventReader.currentVersion('group.updated'), 2);
    assert.equal(groupEventSchemas['group.updated'].safeParse({ ...scope, name: 'x', tags: [] }).success, true);
  });

  test('a snapshot restores the same state, members in chunks', () => {
    let state: GroupState = given([created]).state;
    for (let i = 0; i < 2500; i++) state = groupDecider.evolve(state, userAdded(`u-${i}`));
    state = groupDecider.evolve(state, saAdded('sa-1'));
    const chunks = Array.from(groupSnapshots.encode(state)).map((chunk) => JSON.stringify(chunk));
    assert.ok(chunks.length >= 4);
    assert.ok(chunks.every((chunk) => chunk.length < 64 * 1024));
    // Taken at once: later changes do not reach the chunks.
    groupDecider.evolve(state, userAdded('later'));
    let restored = groupDecider.initialState();
    for (const chunk of chunks) restored = groupSnapshots.restore(restored, JSON.parse(chunk));
    const expected = lists_(state);
    expected.userIDs = expected.userIDs.filter((id) => id !== 'later');
    assert.deepEqual(lists_(restored), expected);
    assert.equal(restored.status === 'active' && restored.name, 'admins');
  });
});
