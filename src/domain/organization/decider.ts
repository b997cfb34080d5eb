import { assertNever, type CommandMetadata, type Decider } from '../shared/decider.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { OrganizationEvent, OrganizationSpec } from './events.js';

export interface OrganizationDetails {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly spec: OrganizationSpec;
}

export type OrganizationState =
  | { readonly status: 'absent' }
  | ({ readonly status: 'active'; readonly id: string } & OrganizationDetails)
  | ({ readonly status: 'deleting'; readonly id: string } & OrganizationDetails)
  | { readonly status: 'deleted'; readonly id: string; readonly name: string };

export const organizationDecider: Decider<OrganizationState, OrganizationEvent> = {
  initialState: () => ({ status: 'absent' }),
  evolve(state, event) {
    switch (event.type) {
      case 'organization.created':
      case 'organization.updated': {
        const { organizationId, name, description, tags, spec } = event.data;
        return { status: 'active', id: organizationId, name, description, tags, spec };
      }
      case 'organization.deletion_requested':
        return state.status === 'active' ? { ...state, status: 'deleting' } : state;
      case 'organization.deleted':
        return { status: 'deleted', id: event.data.organizationId, name: event.data.name };
      default:
        return assertNever(event);
    }
  },
};

const sameDetails = (a: OrganizationDetails, b: OrganizationDetails): boolean =>
  JSON.stringify([a.name, a.description ?? null, a.tags, a.spec]) ===
  JSON.stringify([b.name, b.description ?? null, b.tags, b.spec]);

const notFound = (id: string) => new NotFoundError(`organization ${id} not found`);

export function createOrganization(
  state: OrganizationState,
  command: { organizationId: string } & OrganizationDetails,
  _meta?: CommandMetadata,
): OrganizationEvent[] {
  if (state.status !== 'absent') throw new ConflictError(`organization ${command.organizationId} already exists`);
  const { organizationId, name, description, tags, spec } = command;
  return [{ type: 'organization.created', data: { organizationId, name, description, tags: [...tags], spec } }];
}

export function updateOrganization(
  state: OrganizationState,
  command: { organizationId: string } & OrganizationDetails,
): OrganizationEvent[] {
  switch (state.status) {
    case 'absent':
    case 'deleted':
      throw notFound(command.organizationId);
    case 'deleting':
      throw new ConflictError(`organization ${state.id} is being deleted`);
    case 'active': {
      if (sameDetails(state, command)) return [];
      const { organizationId, name, description, tags, spec } = command;
      return [{ type: 'organization.updated', data: { organizationId, name, description, tags: [...tags], spec } }];
    }
    default:
      return assertNever(state);
  }
}

/** Deleting is asynchronous: this only marks the organization; a process manager finishes it. */
export function requestOrganizationDeletion(
  state: OrganizationState,
  command: { organizationId: string },
): OrganizationEvent[] {
  switch (state.status) {
    case 'absent':
    case 'deleted':
      throw notFound(command.organizationId);
    case 'deleting':
      return []; // a repeated DELETE is harmless
    case 'active':
      return [{ type: 'organization.deletion_requested', data: { organizationId: state.id } }];
    default:
      return assertNever(state);
  }
}

export function completeOrganizationDeletion(
  state: OrganizationState,
  command: { organizationId: string },
): OrganizationEvent[] {
  switch (state.status) {
    case 'deleting':
      return [{ type: 'organization.deleted', data: { organizationId: state.id, name: state.name } }];
    case 'deleted':
      return [];
    case 'absent':
      throw notFound(command.organizationId);
    case 'active':
      throw new InvalidCommandError(`organization ${state.id} has no pending deletion`);
    default:
      return assertNever(state);
  }
}
