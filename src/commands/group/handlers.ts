import { v4 as uuidv4 } from 'uuid';
import {
  addGroupMember,
  createGroup,
  deleteGroup,
  groupDecider,
  type GroupDetails,
  type GroupMember,
  type GroupState,
  hasMember,
  memberList,
  removeGroupMember,
  updateGroup,
} from '../../domain/group/decider.js';
import { groupStream } from '../../domain/group/events.js';
import { isUserOf, userDecider } from '../../domain/user/decider.js';
import { userStream } from '../../domain/user/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { InvalidCommandError, NotFoundError } from '../../domain/shared/errors.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import type { ReadModelStore } from '../../ports/read-models.js';
import { GROUPS, type GroupDocument } from '../../projections/groups/projection.js';
import { requireActiveOrganization } from '../organization/guards.js';
import { handleCommand, loadState } from '../pipeline.js';
import type { StreamStates } from '../stream-states.js';
import { claimUnique, releaseUnique } from '../reservations.js';
import { isGroupOf } from './guards.js';

/** Group names are unique within their organization. */
const nameScope = (organizationId: string) => `group-name:${organizationId}`;

/** Service accounts are another aggregate; this is all a group needs to know of their stream. */
const serviceAccountStream = (id: string) => `serviceaccount-${id}`;

/** The later of two positions in the log (writes happen in order, so the last one written). */
const later = (a: GlobalPosition | undefined, b: GlobalPosition | undefined) => b ?? a;

/** The metadata of a command that only reads (it decides nothing, so nothing is ever stamped with it). */
const READ_ONLY: CommandMetadata = { now: new Date(0), actor: { subject: 'group-read', kind: 'system' }, correlationId: 'group-read', causationId: 'group-read' };

/**
 * Read something out of a group's current state. A group's state changes in
 * place (its member Sets), so it is never handed out: `read` runs on it at
 * once and copies what it needs. It runs as a command that decides nothing,
 * so that it uses the cached state (with `states`), brought up to date with
 * the events after it, rather than folding the stream again.
 */
async function readGroup<T>(store: EventStore, groupId: string, states: StreamStates | undefined, read: (state: GroupState) => T): Promise<T> {
  let result: T | undefined;
  await handleCommand(
    store,
    groupStream(groupId),
    groupDecider,
    (state) => {
      result = read(state);
      return [];
    },
    READ_ONLY,
    states && { states },
  );
  return result as T;
}

/** What a member's command needs to know of a group it names: copied out of the group's state. */
export interface GroupSummary {
  readonly id: string;
  readonly organizationId: string;
  readonly roleIDs: readonly string[];
  /** Whether the group lists the member asked about (false when none was). */
  readonly listsMember: boolean;
}

/**
 * The groups of an organization, by id, from their streams (the write side).
 * An id that is not a group of that organization is a bad request, named.
 */
export async function loadOrganizationGroups(
  store: EventStore,
  organizationId: string,
  groupIds: readonly string[],
  states?: StreamStates,
  member?: GroupMember,
): Promise<GroupSummary[]> {
  const groups: GroupSummary[] = [];
  for (const groupId of new Set(groupIds)) {
    const summary = await readGroup(store, groupId, states, (state) =>
      state.status === 'active' && state.organizationId === organizationId
        ? { id: state.id, organizationId, roleIDs: [...state.roleIDs], listsMember: member !== undefined && hasMember(state, member) }
        : undefined,
    );
    if (!summary) throw new InvalidCommandError(`group ${groupId} is not a group of organization ${organizationId}`);
    groups.push(summary);
  }
  return groups;
}

/**
 * That the groups are groups of the organization, without loading them: each
 * stream's newest group event says so (see isGroupOf).
 */
export async function requireOrganizationGroups(store: EventStore, organizationId: string, groupIds: readonly string[]): Promise<void> {
  for (const groupId of new Set(groupIds)) {
    if (!(await isGroupOf(store, organizationId, groupId))) {
      throw new InvalidCommandError(`group ${groupId} is not a group of organization ${organizationId}`);
    }
  }
}

export class GroupCommands {
  constructor(
    private readonly store: EventStore,
    private readonly readModels: ReadModelStore,
    /** Cached states of groups, which live long. */
    private readonly states?: StreamStates,
  ) {}

  private get options() {
    return this.states && { states: this.states };
  }

  async create(organizationId: string, details: GroupDetails, meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    await this.checkMembers(organizationId, details.userIDs, details.serviceAccountIDs);
    const groupId = uuidv4();
    await claimUnique(this.store, { scope: nameScope(organizationId), value: details.name, ownerId: groupId }, groupStream, meta);
    try {
      return await handleCommand(this.store, groupStream(groupId), groupDecider, (state) => createGroup(state, { groupId, organizationId, ...details }), meta, this.options);
    } catch (error) {
      await releaseUnique(this.store, { scope: nameScope(organizationId), value: details.name, ownerId: groupId }, meta);
      throw error;
    }
  }

  async update(organizationId: string, groupId: string, details: GroupDetails, meta: CommandMetadata) {
    const stream = groupStream(groupId);
    // Only the name and the members the PUT adds: work in the size of the request, not of the group.
    const before = await readGroup(this.store, groupId, this.states, (state) =>
      state.status === 'active' && state.organizationId === organizationId
        ? {
            name: state.name,
            joiningUsers: [...new Set(details.userIDs)].filter((id) => !state.userIDs.has(id)),
            joiningServiceAccounts: [...new Set(details.serviceAccountIDs)].filter((id) => !state.serviceAccountIDs.has(id)),
          }
        : undefined,
    );
    if (!before) throw new NotFoundError(`group ${groupId} not found`);
    await this.checkMembers(organizationId, before.joiningUsers, before.joiningServiceAccounts);
    const renamed = before.name.toLowerCase() !== details.name.toLowerCase();
    const claim = (name: string) => ({ scope: nameScope(organizationId), value: name, ownerId: groupId });
    if (renamed) await claimUnique(this.store, claim(details.name), groupStream, meta);
    try {
      const result = await handleCommand(this.store, stream, groupDecider, (state) => updateGroup(state, { groupId, organizationId, ...details }), meta, this.options);
      if (renamed) await releaseUnique(this.store, claim(before.name), meta);
      return result;
    } catch (error) {
      if (renamed) await releaseUnique(this.store, claim(details.name), meta);
      throw error;
    }
  }

  async delete(organizationId: string, groupId: string, meta: CommandMetadata) {
    const result = await handleCommand(this.store, groupStream(groupId), groupDecider, (state) => deleteGroup(state, { groupId, organizationId }), meta, this.options);
    if (result.state.status === 'deleted') {
      await releaseUnique(this.store, { scope: nameScope(organizationId), value: result.state.name, ownerId: groupId }, meta);
    }
    return result;
  }

  /**
   * Make the member belong to exactly these groups of the organization.
   * Every listed group is checked on its stream first, so a bad id changes
   * nothing. The groups that list the member now are found through the groups
   * read model (a stream per group cannot be searched); each change is then
   * made on the group's own stream through the pipeline, at its expected
   * revision. Returns where the last change landed, for read-your-writes.
   */
  async setMemberships(
    organizationId: string,
    member: GroupMember,
    groupIds: readonly string[],
    meta: CommandMetadata,
  ): Promise<GlobalPosition | undefined> {
    const wanted = await loadOrganizationGroups(this.store, organizationId, groupIds, this.states);
    const wantedIds = new Set(wanted.map((group) => group.id));
    let last: GlobalPosition | undefined;
    for (const group of wanted) {
      const result = await handleCommand(
        this.store,
        groupStream(group.id),
        groupDecider,
        (state) => {
          // Deleted since it was checked: still the caller's bad id, not a missing URL.
          if (state.status !== 'active') throw new InvalidCommandError(`group ${group.id} is not a group of organization ${organizationId}`);
          return addGroupMember(state, { groupId: group.id, organizationId, member });
        },
        meta,
        this.options,
      );
      last = later(last, result.position);
    }
    for (const groupId of await this.groupsListing(organizationId, member)) {
      if (!wantedIds.has(groupId)) last = later(last, await this.removeFrom(organizationId, groupId, member, meta));
    }
    return last;
  }

  /** Take the member out of every group of the organization (when it is deleted). */
  async removeMemberEverywhere(organizationId: string, member: GroupMember, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    let last: GlobalPosition | undefined;
    for (const groupId of await this.groupsListing(organizationId, member)) {
      last = later(last, await this.removeFrom(organizationId, groupId, member, meta));
    }
    return last;
  }

  private async removeFrom(organizationId: string, groupId: string, member: GroupMember, meta: CommandMetadata) {
    const result = await handleCommand(this.store, groupStream(groupId), groupDecider, (state) => removeGroupMember(state, { groupId, organizationId, member }), meta, this.options);
    return result.position;
  }

  /** The ids of the groups that list the member, as the read model has them. */
  private async groupsListing(organizationId: string, member: GroupMember): Promise<string[]> {
    const groups = await this.readModels
      .collection<GroupDocument>(GROUPS)
      .find({ 'metadata.organizationId': organizationId, [`spec.${memberList(member.kind)}`]: member.id });
    return groups.map((group) => group.metadata.id);
  }

  /**
   * The groups of the organization, by id, and whether each lists the member
   * (for the roles a member's command would grant). A bad id is a bad request.
   */
  groupsOf(organizationId: string, groupIds: readonly string[], member?: GroupMember): Promise<GroupSummary[]> {
    return loadOrganizationGroups(this.store, organizationId, groupIds, this.states, member);
  }

  /**
   * Members added to a group must be users and service accounts of its
   * organization, checked on their streams. The caller passes only those the
   * group does not list yet: those already listed stay as they are.
   */
  private async checkMembers(organizationId: string, userIds: readonly string[], serviceAccountIds: readonly string[]): Promise<void> {
    for (const userId of new Set(userIds)) {
      const { state } = await loadState(this.store, userStream(userId), userDecider);
      if (!isUserOf(state, organizationId)) throw new InvalidCommandError(`user ${userId} is not a user of organization ${organizationId}`);
    }
    for (const id of new Set(serviceAccountIds)) {
      if (!(await this.isServiceAccountOf(organizationId, id))) {
        throw new InvalidCommandError(`service account ${id} is not a service account of organization ${organizationId}`);
      }
    }
  }

  /** A service account of the organization: its stream starts with serviceaccount.created there and has no deletion. */
  private async isServiceAccountOf(organizationId: string, id: string): Promise<boolean> {
    const history = await this.store.readStream(serviceAccountStream(id));
    const first = history[0];
    return (
      first?.type === 'serviceaccount.created' &&
      (first.data as { organizationId?: unknown }).organizationId === organizationId &&
      !history.some((event) => event.type === 'serviceaccount.deleted')
    );
  }
}
