import type { SnapshotPolicy } from '../../ports/snapshots.js';
import { roleById } from '../rbac/roles.js';
import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { GroupEvent } from './events.js';

/** A group as the API writes it: its details and its whole lists (a PUT states them all). */
export interface GroupDetails {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly roleIDs: readonly string[];
  readonly userIDs: readonly string[];
  readonly serviceAccountIDs: readonly string[];
}

/**
 * A live group. Its lists are Sets that `evolve` changes in place, so that a
 * membership event costs the same however large the group is: a state is
 * owned by whoever folds it (see `evolvesInPlace` in src/ports/snapshots.ts).
 */
export interface ActiveGroup {
  readonly status: 'active';
  readonly id: string;
  readonly organizationId: string;
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly roleIDs: ReadonlySet<string>;
  readonly userIDs: ReadonlySet<string>;
  readonly serviceAccountIDs: ReadonlySet<string>;
}

export type GroupState =
  | { readonly status: 'absent' }
  | ActiveGroup
  | { readonly status: 'deleted'; readonly id: string; readonly organizationId: string; readonly name: string };

/** Who can be a member of a group, and which of its lists holds them. */
export interface GroupMember {
  readonly kind: 'user' | 'serviceAccount';
  readonly id: string;
}
export const memberList = (kind: GroupMember['kind']): 'userIDs' | 'serviceAccountIDs' =>
  kind === 'user' ? 'userIDs' : 'serviceAccountIDs';

type Writable<T> = { -readonly [K in keyof T]: T[K] };
type LiveGroup = Writable<Omit<ActiveGroup, 'roleIDs' | 'userIDs' | 'serviceAccountIDs'>> & {
  roleIDs: Set<string>;
  userIDs: Set<string>;
  serviceAccountIDs: Set<string>;
};

type Details = { groupId: string; organizationId: string; name: string; description?: string | undefined; tags: Tag[] };

/** The state a created event, or an upcast version-1 event with whole lists, brings into being. */
function fromDetails(data: Details & { members?: { roleIDs: string[]; userIDs: string[]; serviceAccountIDs: string[] } | undefined }): LiveGroup {
  const { groupId, organizationId, name, description, tags, members } = data;
  return {
    status: 'active',
    id: groupId,
    organizationId,
    name,
    ...(description !== undefined && { description }),
    tags,
    roleIDs: new Set(members?.roleIDs),
    userIDs: new Set(members?.userIDs),
    serviceAccountIDs: new Set(members?.serviceAccountIDs),
  };
}

/** Members per snapshot chunk. */
const SNAPSHOT_CHUNK = 1000;

type GroupChunk = { readonly head: Exclude<GroupState, ActiveGroup> | Omit<ActiveGroup, 'roleIDs' | 'userIDs' | 'serviceAccountIDs'> } | { readonly list: 'roleIDs' | 'userIDs' | 'serviceAccountIDs'; readonly ids: string[] };

/**
 * A group loads from its newest periodic snapshot (every SNAPSHOT_EVERY
 * events) or its newest event that states the whole group, whichever is
 * newer, and folds the events after it. What states the whole group: its
 * creation (the first event), its deletion, and an upcast version-1 event
 * that carries the whole lists. A snapshot is the details, then the members
 * in chunks of SNAPSHOT_CHUNK.
 * Bump the version when GroupState or evolve changes.
 */
export const groupSnapshots: SnapshotPolicy<GroupState, GroupEvent> = {
  version: 'group-2',
  evolvesInPlace: true,
  opens: (event) =>
    event.type === 'group.created' || event.type === 'group.deleted' || (event.type === 'group.updated' && event.data.members !== undefined),
  *encode(state) {
    if (state.status !== 'active') {
      yield { head: { ...state } } satisfies GroupChunk;
      return;
    }
    const { roleIDs, userIDs, serviceAccountIDs, ...head } = state;
    yield { head: { ...head, tags: [...head.tags] } } satisfies GroupChunk;
    for (const [list, ids] of [['roleIDs', roleIDs], ['userIDs', userIDs], ['serviceAccountIDs', serviceAccountIDs]] as const) {
      // Copied now: the Sets go on changing after the chunks are taken.
      const all = [...ids];
      for (let start = 0; start < all.length; start += SNAPSHOT_CHUNK) yield { list, ids: all.slice(start, start + SNAPSHOT_CHUNK) } satisfies GroupChunk;
    }
  },
  restore(state, chunk) {
    const part = chunk as GroupChunk;
    if ('head' in part) {
      return part.head.status === 'active' ? { ...part.head, roleIDs: new Set(), userIDs: new Set(), serviceAccountIDs: new Set() } : part.head;
    }
    if (state.status === 'active') for (const id of part.ids) (state as LiveGroup)[part.list].add(id);
    return state;
  },
};

/** One event's change to a live group, in place; nothing for a group that is not live. */
function change(state: GroupState, apply: (group: LiveGroup) => void): GroupState {
  if (state.status === 'active') apply(state as LiveGroup);
  return state;
}

export const groupDecider: Decider<GroupState, GroupEvent> & { readonly snapshot: SnapshotPolicy<GroupState, GroupEvent> } = {
  snapshot: groupSnapshots,
  initialState: () => ({ status: 'absent' }),
  /** Constant work per event (a version-1 event with whole lists aside: it replaces them). */
  evolve(state, event) {
    switch (event.type) {
      case 'group.created':
        return fromDetails(event.data);
      case 'group.updated': {
        // Version 1 stated the whole group; version 2 only its details.
        if (event.data.members !== undefined || state.status !== 'active') return fromDetails(event.data);
        const group = state as LiveGroup;
        const { name, description, tags } = event.data;
        group.name = name;
        if (description !== undefined) group.description = description;
        else delete group.description;
        group.tags = tags;
        return group;
      }
      case 'group.deleted':
        return { status: 'deleted', id: event.data.groupId, organizationId: event.data.organizationId, name: event.data.name };
      case 'group.user.added':
        return change(state, (group) => group.userIDs.add(event.data.userId));
      case 'group.user.removed':
        return change(state, (group) => group.userIDs.delete(event.data.userId));
      case 'group.service_account.added':
        return change(state, (group) => group.serviceAccountIDs.add(event.data.serviceAccountId));
      case 'group.service_account.removed':
        return change(state, (group) => group.serviceAccountIDs.delete(event.data.serviceAccountId));
      case 'group.role.added':
        return change(state, (group) => group.roleIDs.add(event.data.roleId));
      case 'group.role.removed':
        return change(state, (group) => group.roleIDs.delete(event.data.roleId));
      default:
        return assertNever(event);
    }
  },
};

export interface GroupCommand extends GroupDetails {
  readonly groupId: string;
  readonly organizationId: string;
}

/** A group of another organization is, to this one, a group that does not exist. */
const notFound = (groupId: string) => new NotFoundError(`group ${groupId} not found`);

/** Only built-in roles, and never the protected one: a group must not make platform administrators. */
function checkRoles(roleIDs: readonly string[]): void {
  for (const id of roleIDs) {
    const role = roleById(id);
    if (!role) throw new InvalidCommandError(`unknown role ${id}`);
    if (role.protected) throw new InvalidCommandError(`role ${id} cannot be granted`);
  }
}

/** The group's own details as event data (an absent description left out). */
function detailsData(groupId: string, organizationId: string, details: Pick<GroupDetails, 'name' | 'description' | 'tags'>) {
  const { name, description, tags } = details;
  return { groupId, organizationId, name, ...(description !== undefined && { description }), tags: [...tags] };
}

const sameDetails = (a: Pick<GroupDetails, 'name' | 'description' | 'tags'>, b: Pick<GroupDetails, 'name' | 'description' | 'tags'>): boolean =>
  JSON.stringify([a.name, a.description ?? null, a.tags]) === JSON.stringify([b.name, b.description ?? null, b.tags]);

/**
 * The events that take `current` to `wanted`: one per member removed, then
 * one per member added (in the order listed, duplicates once). Work in the
 * size of the two lists, never more.
 */
function diff(groupId: string, organizationId: string, current: ReadonlySet<string>, wanted: readonly string[], kind: 'user' | 'service_account' | 'role'): GroupEvent[] {
  const wantedSet = new Set(wanted);
  const events: GroupEvent[] = [];
  const event = (change: 'added' | 'removed', id: string): GroupEvent => {
    const scope = { groupId, organizationId };
    switch (kind) {
      case 'user':
        return { type: change === 'added' ? 'group.user.added' : 'group.user.removed', data: { ...scope, userId: id } };
      case 'service_account':
        return { type: change === 'added' ? 'group.service_account.added' : 'group.service_account.removed', data: { ...scope, serviceAccountId: id } };
      case 'role':
        return { type: change === 'added' ? 'group.role.added' : 'group.role.removed', data: { ...scope, roleId: id } };
    }
  };
  for (const id of current) if (!wantedSet.has(id)) events.push(event('removed', id));
  for (const id of wantedSet) if (!current.has(id)) events.push(event('added', id));
  return events;
}

/** The membership events from one group's lists to the wanted ones: roles, users, service accounts. */
function membershipChanges(groupId: string, organizationId: string, current: Pick<ActiveGroup, 'roleIDs' | 'userIDs' | 'serviceAccountIDs'>, wanted: GroupDetails): GroupEvent[] {
  return [
    ...diff(groupId, organizationId, current.roleIDs, wanted.roleIDs, 'role'),
    ...diff(groupId, organizationId, current.userIDs, wanted.userIDs, 'user'),
    ...diff(groupId, organizationId, current.serviceAccountIDs, wanted.serviceAccountIDs, 'service_account'),
  ];
}

const NO_MEMBERS = { roleIDs: new Set<string>(), userIDs: new Set<string>(), serviceAccountIDs: new Set<string>() };

/** The group as the command addresses it: it must exist in the command's organization. */
function activeIn(state: GroupState, groupId: string, organizationId: string): ActiveGroup {
  if (state.status !== 'active' || state.organizationId !== organizationId) throw notFound(groupId);
  return state;
}

/** Is the member listed by the group? */
export const hasMember = (group: ActiveGroup, member: GroupMember): boolean => group[memberList(member.kind)].has(member.id);

/** Created with its details, then one event per initial role and member. */
export function createGroup(state: GroupState, command: GroupCommand): GroupEvent[] {
  if (state.status !== 'absent') throw new ConflictError(`group ${command.groupId} already exists`);
  checkRoles(command.roleIDs);
  return [
    { type: 'group.created', data: detailsData(command.groupId, command.organizationId, command) },
    ...membershipChanges(command.groupId, command.organizationId, NO_MEMBERS, command),
  ];
}

/** A PUT states the whole group: its details when they changed, and the difference of its lists, per member. */
export function updateGroup(state: GroupState, command: GroupCommand): GroupEvent[] {
  const group = activeIn(state, command.groupId, command.organizationId);
  checkRoles(command.roleIDs);
  return [
    ...(sameDetails(group, command) ? [] : [{ type: 'group.updated' as const, data: detailsData(group.id, group.organizationId, command) }]),
    ...membershipChanges(group.id, group.organizationId, group, command),
  ];
}

export function deleteGroup(state: GroupState, command: { groupId: string; organizationId: string }): GroupEvent[] {
  const group = activeIn(state, command.groupId, command.organizationId);
  return [{ type: 'group.deleted', data: { groupId: group.id, organizationId: group.organizationId, name: group.name } }];
}

const memberEvent = (group: ActiveGroup, member: GroupMember, change: 'added' | 'removed'): GroupEvent => {
  const scope = { groupId: group.id, organizationId: group.organizationId };
  return member.kind === 'user'
    ? { type: change === 'added' ? 'group.user.added' : 'group.user.removed', data: { ...scope, userId: member.id } }
    : { type: change === 'added' ? 'group.service_account.added' : 'group.service_account.removed', data: { ...scope, serviceAccountId: member.id } };
};

/** Add a member; nothing to record when it already is one. */
export function addGroupMember(
  state: GroupState,
  command: { groupId: string; organizationId: string; member: GroupMember },
): GroupEvent[] {
  const group = activeIn(state, command.groupId, command.organizationId);
  if (hasMember(group, command.member)) return [];
  return [memberEvent(group, command.member, 'added')];
}

/** Remove a member; a group that is gone, or never listed it, has nothing to change. */
export function removeGroupMember(
  state: GroupState,
  command: { groupId: string; organizationId: string; member: GroupMember },
): GroupEvent[] {
  if (state.status !== 'active' || state.organizationId !== command.organizationId) return [];
  if (!hasMember(state, command.member)) return [];
  return [memberEvent(state, command.member, 'removed')];
}
