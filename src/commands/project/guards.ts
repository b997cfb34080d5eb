import { projectDecider } from '../../domain/project/decider.js';
import { projectStream } from '../../domain/project/events.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../../domain/shared/errors.js';
import type { EventStore } from '../../ports/event-store.js';
import { loadState } from '../pipeline.js';

/** The stream of a group (written by the groups' command handlers). */
const groupStream = (groupId: string): string => `group-${groupId}`;

/**
 * A project lists only groups that exist, are not deleted, and belong to its
 * organization, checked on their streams (the write side). Group events carry
 * their organization, so the latest event of a stream says all we need.
 */
export async function requireGroupsInOrganization(events: EventStore, organizationId: string, groupIds: readonly string[]): Promise<void> {
  for (const groupId of groupIds) {
    const [latest] = await events.readStream(groupStream(groupId), { direction: 'backwards', maxCount: 1 });
    const data = latest?.data as { organizationId?: string } | undefined;
    const live = latest !== undefined && (latest.type === 'group.created' || latest.type === 'group.updated');
    if (!live || data?.organizationId !== organizationId) {
      throw new InvalidCommandError(`spec.groupIDs: group ${groupId} does not exist in organization ${organizationId}`);
    }
  }
}

/** Allocations go only to a project of this organization that is not being deleted. */
export async function requireActiveProject(events: EventStore, organizationId: string, projectId: string): Promise<void> {
  const { state } = await loadState(events, projectStream(projectId), projectDecider);
  const visible = (state.status === 'active' || state.status === 'deleting') && state.organizationId === organizationId;
  if (!visible) throw new NotFoundError(`project ${projectId} not found`);
  if (state.status === 'deleting') throw new ConflictError(`project ${projectId} is being deleted`);
}
