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

export type ProjectState =
  | { readonly status: 'absent' }
  | ({ readonly status: 'active' } & Identity & ProjectDetails)
  | ({ readonly status: 'deleting' } & Identity & ProjectDetails)
  | ({ readonly status: 'deleted'; readonly name: string } & Identity);

export const projectDecider: Decider<ProjectState, ProjectEvent> = {
  initialState: () => ({ status: 'absent' }),
  evolve(state, event) {
    switch (event.type) {
      case 'project.created':
      case 'project.updated': {
        const { projectId, organizationId, name, description, tags, groupIDs } = event.data;
        return { status: 'active', id: projectId, organizationId, name, description, tags, groupIDs };
      }
      case 'project.deletion_requested':
        return state.status === 'active' ? { ...state, status: 'deleting' } : state;
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

/** Deleting is asynchronous: this only marks the project; a process manager releases its allocations and finishes. */
export function requestProjectDeletion(state: ProjectState, command: ProjectRef): ProjectEvent[] {
  if (!isVisible(state, command)) throw notFound(command.projectId);
  switch (state.status) {
    case 'deleting':
      return []; // a repeated DELETE is harmless
    case 'active':
      return [{ type: 'project.deletion_requested', data: { projectId: state.id, organizationId: state.organizationId } }];
    default:
      return assertNever(state);
  }
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
