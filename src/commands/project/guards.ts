import { projectDecider } from '../../domain/project/decider.js';
import { projectStream } from '../../domain/project/events.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../../domain/shared/errors.js';
import type { EventStore } from '../../ports/event-store.js';
import { isGroupOf } from '../group/guards.js';
import { loadState } from '../pipeline.js';

/**
 * A project lists only groups that exist, are not deleted, and belong to its
 * organization, checked on their streams (the write side): the newest group
 * event of each stream says all we need (isGroupOf).
 */
export async function requireGroupsInOrganization(events: EventStore, organizationId: string, groupIds: readonly string[]): Promise<void> {
  for (const groupId of groupIds) {
    if (!(await isGroupOf(events, organizationId, groupId))) {
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
