import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { ProjectEvent } from './events.js';

export interface ProjectDetails {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly groupIDs: readonly string[];
}

interface Identity {
  readonly id: string;
  readonly organizationId: string;
}

/** Where provisioning stands: the provisioning process moves it on from `pending`. */
export type Provisioning = 'pending' | 'provisioned' | 'failed';

export type ProjectState =
  | { readonly status: 'absent' }
  | ({ readonly status: 'active'; readonly provisioning: Provisioning } & Identity & ProjectDetails)
  /** `failure` is set when the deletion stopped for good; a new request clears it. */
  | ({ readonly status: 'deleting'; readonly failure?: string } & Identity & ProjectDetails)
  | ({ readonly status: 'deleted'; readonly name: string } & Identity);

const stateDetails = (data: { name: string; description?: string; tags: Tag[]; groupIDs: string[] }): ProjectDetails => ({
  name: data.name,
  description: data.description,
  tags: data.tags,
  groupIDs: data.groupIDs,
});

export const projectDecider: Decider<ProjectState, ProjectEvent> = {
  initialState: () => ({ status: 'absent' }),
  evolve(state, event) {
    switch (event.type) {
      case 'project.created': {
        const { projectId, organizationId } = event.data;
        return { status: 'active', provisioning: 'pending', id: projectId, organizationId, ...stateDetails(event.data) };
      }
      case 'project.updated':
        return state.status === 'active' || state.status === 'deleting' ? { ...state, ...stateDetails(event.data) } : state;
      case 'project.provisioned':
        return state.status === 'active' ? { ...state, provisioning: 'provisioned' } : state;
      case 'project.provisioning_failed':
        return state.status === 'active' ? { ...state, provisioning: 'failed' } : state;
      case 'project.group_removed':
        return state.status === 'active' || state.status === 'deleting'
          ? { ...state, groupIDs: state.groupIDs.filter((id) => id !== event.data.groupId) }
          : state;
      case 'project.deletion_requested': {
        if (state.status !== 'active' && state.status !== 'deleting') return state;
        const { id, organizationId, name, description, tags, groupIDs } = state;
        return { status: 'deleting', id, organizationId, name, description, tags, groupIDs };
      }
      case 'project.deletion_failed':
        return state.status === 'deleting' ? { ...state, failure: event.data.reason } : state;
      case 'project.deleted':
        return { status: 'deleted', id: event.data.projectId, organizationId: event.data.organizationId, name: event.data.name };
      default:
        return assertNever(event);
    }
  },
};

interface ProjectRef {
  readonly projectId: string;
  readonly organizationId: string;
}

const notFound = (id: string) => new NotFoundError(`project ${id} not found`);

/** A project of another organization does not exist, as far as this one is concerned. */
const isVisible = (state: ProjectState, ref: ProjectRef): state is Exclude<ProjectState, { status: 'absent' | 'deleted' }> =>
  (state.status === 'active' || state.status === 'deleting') && state.organizationId === ref.organizationId;

const sameDetails = (a: ProjectDetails, b: ProjectDetails): boolean =>
  JSON.stringify([a.name, a.description ?? null, a.tags, a.groupIDs]) ===
  JSON.stringify([b.name, b.description ?? null, b.tags, b.groupIDs]);

const detailsOf = (command: ProjectRef & ProjectDetails) => {
  const { projectId, organizationId, name, description, tags, groupIDs } = command;
  return { projectId, organizationId, name, ...(description !== undefined && { description }), tags: [...tags], groupIDs: [...groupIDs] };
};

export function createProject(state: ProjectState, command: ProjectRef & ProjectDetails): ProjectEvent[] {
  if (state.status !== 'absent') throw new ConflictError(`project ${command.projectId} already exists`);
  return [{ type: 'project.created', data: detailsOf(command) }];
}

export function updateProject(state: ProjectState, command: ProjectRef & ProjectDetails): ProjectEvent[] {
  if (!isVisible(state, command)) throw notFound(command.projectId);
  switch (state.status) {
    case 'deleting':
      throw new ConflictError(`project ${state.id} is being deleted`);
    case 'active':
      return sameDetails(state, command) ? [] : [{ type: 'project.updated', data: detailsOf(command) }];
    default:
      return assertNever(state);
  }
}

/** The provisioning process has seen the project; nothing to record twice, or once it is on its way out. */
export function markProjectProvisioned(state: ProjectState, command: ProjectRef): ProjectEvent[] {
  if (state.status === 'absent') throw notFound(command.projectId);
  if (state.status !== 'active' || state.provisioning !== 'pending') return [];
  return [{ type: 'project.provisioned', data: { projectId: state.id, organizationId: state.organizationId } }];
}

export function recordProjectProvisioningFailure(state: ProjectState, command: ProjectRef & { reason: string }): ProjectEvent[] {
  if (state.status !== 'active' || state.provisioning !== 'pending') return [];
  return [{ type: 'project.provisioning_failed', data: { projectId: state.id, organizationId: state.organizationId, reason: command.reason } }];
}

/**
 * A deleted group comes off the project's list. Only a project that lists it
 * changes; one being deleted is left alone (it goes away with its list).
 */
export function removeProjectGroup(state: ProjectState, command: ProjectRef & { groupId: string }): ProjectEvent[] {
  if (state.status !== 'active' || state.organizationId !== command.organizationId || !state.groupIDs.includes(command.groupId)) return [];
  return [{ type: 'project.group_removed', data: { projectId: state.id, organizationId: state.organizationId, groupId: command.groupId } }];
}

/**
 * Deleting is asynchronous: this only marks the project; a process manager
 * releases its allocations and finishes. A repeated request is harmless,
 * except after the deletion failed for good, where it starts it again.
 */
export function requestProjectDeletion(state: ProjectState, command: ProjectRef): ProjectEvent[] {
  if (!isVisible(state, command)) throw notFound(command.projectId);
  switch (state.status) {
    case 'deleting':
      return state.failure === undefined ? [] : [{ type: 'project.deletion_requested', data: { projectId: state.id, organizationId: state.organizationId } }];
    case 'active':
      return [{ type: 'project.deletion_requested', data: { projectId: state.id, organizationId: state.organizationId } }];
    default:
      return assertNever(state);
  }
}

/** Is a deletion due? Not once it failed (until requested again), nor once it is done. */
export const isProjectDeletionPending = (state: ProjectState): boolean => state.status === 'deleting' && state.failure === undefined;

export function recordProjectDeletionFailure(state: ProjectState, command: ProjectRef & { reason: string }): ProjectEvent[] {
  if (state.status !== 'deleting' || state.failure !== undefined) return [];
  return [{ type: 'project.deletion_failed', data: { projectId: state.id, organizationId: state.organizationId, reason: command.reason } }];
}

export function completeProjectDeletion(state: ProjectState, command: ProjectRef): ProjectEvent[] {
  switch (state.status) {
    case 'deleting':
      return [{ type: 'project.deleted', data: { projectId: state.id, organizationId: state.organizationId, name: state.name } }];
    case 'deleted':
      return [];
    case 'absent':
      throw notFound(command.projectId);
    case 'active':
      throw new InvalidCommandError(`project ${state.id} has no pending deletion`);
    default:
      return assertNever(state);
  }
}
