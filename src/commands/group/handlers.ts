import { v4 as uuidv4 } from 'uuid';
import {
  type ActiveGroup,
  addGroupMember,
  createGroup,
  deleteGroup,
  groupDecider,
  type GroupDetails,
  type GroupMember,
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

/** Group names are unique within their organization. */
const nameScope = (organizationId: string) => `group-name:${organizationId}`;

/** Service accounts are another aggregate; this is all a group needs to know of their stream. */
const serviceAccountStream = (id: string) => `serviceaccount-${id}`;

/** The later of two positions in the log (writes happen in order, so the last one written). */
const later = (a: GlobalPosition | undefined, b: GlobalPosition | undefined) => b ?? a;

/**
 * The groups of an organization, by id, from their streams (the write side).
 * An id that is not a group of that organization is a bad request, named.
 */
export async function loadOrganizationGroups(
  store: EventStore,
  organizationId: string,
  groupIds: readonly string[],
  states?: StreamStates,
): Promise<ActiveGroup[]> {
  const groups: ActiveGroup[] = [];
  for (const groupId of new Set(groupIds)) {
    const { state } = await loadState(store, groupStream(groupId), groupDecider, states && { states });
    if (state.status !== 'active' || state.organizationId !== organizationId) {
      throw new InvalidCommandError(`group ${groupId} is not a group of organization ${organizationId}`);
    }
    groups.push(state);
  }
  return groups;
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
    await this.checkMembers(organizationId, details, undefined);
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
    const { state: before } = await loadState(this.store, stream, groupDecider, this.options);
    if (before.status !== 'active' || before.organizationId !== organizationId) throw new NotFoundError(`group ${groupId} not found`);
    await this.checkMembers(organizationId, details, before);
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
   * Members added to a group must be users and service accounts of its
   * organization, checked on their streams. Those already listed stay as they are.
   */
  private async checkMembers(organizationId: string, details: GroupDetails, before: ActiveGroup | undefined): Promise<void> {
    for (const userId of new Set(details.userIDs)) {
      if (before?.userIDs.includes(userId)) continue;
      const { state } = await loadState(this.store, userStream(userId), userDecider);
      if (!isUserOf(state, organizationId)) throw new InvalidCommandError(`user ${userId} is not a user of organization ${organizationId}`);
    }
    for (const id of new Set(details.serviceAccountIDs)) {
      if (before?.serviceAccountIDs.includes(id)) continue;
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
