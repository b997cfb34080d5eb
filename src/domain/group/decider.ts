import { openingBalances, type SnapshotPolicy } from '../../ports/snapshots.js';
import { roleById } from '../rbac/roles.js';
import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { GroupEvent } from './events.js';

export interface GroupDetails {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly roleIDs: readonly string[];
  readonly userIDs: readonly string[];
  readonly serviceAccountIDs: readonly string[];
}

export type GroupState =
  | { readonly status: 'absent' }
  | ({ readonly status: 'active'; readonly id: string; readonly organizationId: string } & GroupDetails)
  | { readonly status: 'deleted'; readonly id: string; readonly organizationId: string; readonly name: string };

export type ActiveGroup = Extract<GroupState, { status: 'active' }>;

/** Who can be a member of a group, and which of its lists holds them. */
export interface GroupMember {
  readonly kind: 'user' | 'serviceAccount';
  readonly id: string;
}
export const memberList = (kind: GroupMember['kind']): 'userIDs' | 'serviceAccountIDs' =>
  kind === 'user' ? 'userIDs' : 'serviceAccountIDs';

/**
 * Every group event carries the group's whole state (or its deletion), so a
 * load reads only the newest event: each event is an opening balance.
 * Bump the version when GroupState or evolve changes.
 */
const groupSnapshots = openingBalances<GroupState, GroupEvent>('group-1', ['group.created', 'group.updated', 'group.deleted']);

export const groupDecider: Decider<GroupState, GroupEvent> & { readonly snapshot: SnapshotPolicy<GroupState, GroupEvent> } = {
  snapshot: groupSnapshots,
  initialState: () => ({ status: 'absent' }),
  evolve(_state, event) {
    switch (event.type) {
      case 'group.created':
      case 'group.updated': {
        const { groupId, organizationId, ...details } = event.data;
        return { status: 'active', id: groupId, organizationId, ...details };
      }
      case 'group.deleted':
        return { status: 'deleted', id: event.data.groupId, organizationId: event.data.organizationId, name: event.data.name };
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

const unique = (ids: readonly string[]): string[] => [...new Set(ids)];

/** Only built-in roles, and never the protected one: a group must not make platform administrators. */
function checkRoles(roleIDs: readonly string[]): void {
  for (const id of roleIDs) {
    const role = roleById(id);
    if (!role) throw new InvalidCommandError(`unknown role ${id}`);
    if (role.protected) throw new InvalidCommandError(`role ${id} cannot be granted`);
  }
}

/** The event data for a group's whole state, lists without duplicates. */
function stateData(groupId: string, organizationId: string, details: GroupDetails) {
  const { name, description, tags, roleIDs, userIDs, serviceAccountIDs } = details;
  return {
    groupId,
    organizationId,
    name,
    ...(description !== undefined && { description }),
    tags: [...tags],
    roleIDs: unique(roleIDs),
    userIDs: unique(userIDs),
    serviceAccountIDs: unique(serviceAccountIDs),
  };
}

const sameDetails = (a: GroupDetails, b: GroupDetails): boolean =>
  JSON.stringify([a.name, a.description ?? null, a.tags, unique(a.roleIDs), unique(a.userIDs), unique(a.serviceAccountIDs)]) ===
  JSON.stringify([b.name, b.description ?? null, b.tags, unique(b.roleIDs), unique(b.userIDs), unique(b.serviceAccountIDs)]);

/** The group as the command addresses it: it must exist in the command's organization. */
function activeIn(state: GroupState, groupId: string, organizationId: string): ActiveGroup {
  if (state.status !== 'active' || state.organizationId !== organizationId) throw notFound(groupId);
  return state;
}

export function createGroup(state: GroupState, command: GroupCommand): GroupEvent[] {
  if (state.status !== 'absent') throw new ConflictError(`group ${command.groupId} already exists`);
  checkRoles(command.roleIDs);
  return [{ type: 'group.created', data: stateData(command.groupId, command.organizationId, command) }];
}

export function updateGroup(state: GroupState, command: GroupCommand): GroupEvent[] {
  const group = activeIn(state, command.groupId, command.organizationId);
  checkRoles(command.roleIDs);
  if (sameDetails(group, command)) return [];
  return [{ type: 'group.updated', data: stateData(group.id, group.organizationId, command) }];
}

export function deleteGroup(state: GroupState, command: { groupId: string; organizationId: string }): GroupEvent[] {
  const group = activeIn(state, command.groupId, command.organizationId);
  return [{ type: 'group.deleted', data: { groupId: group.id, organizationId: group.organizationId, name: group.name } }];
}

/** Add a member; nothing to record when it already is one. */
export function addGroupMember(
  state: GroupState,
  command: { groupId: string; organizationId: string; member: GroupMember },
): GroupEvent[] {
  const group = activeIn(state, command.groupId, command.organizationId);
  const list = memberList(command.member.kind);
  if (group[list].includes(command.member.id)) return [];
  const details = { ...group, [list]: [...group[list], command.member.id] };
  return [{ type: 'group.updated', data: stateData(group.id, group.organizationId, details) }];
}

/** Remove a member; a group that is gone, or never listed it, has nothing to change. */
export function removeGroupMember(
  state: GroupState,
  command: { groupId: string; organizationId: string; member: GroupMember },
): GroupEvent[] {
  if (state.status !== 'active' || state.organizationId !== command.organizationId) return [];
  const list = memberList(command.member.kind);
  if (!state[list].includes(command.member.id)) return [];
  const details = { ...state, [list]: state[list].filter((id) => id !== command.member.id) };
  return [{ type: 'group.updated', data: stateData(state.id, state.organizationId, details) }];
}
