import { openingBalances, type SnapshotPolicy } from '../../ports/snapshots.js';
import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { UserEvent, UserStateValue } from './events.js';

export interface UserDetails {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly subject: string;
  readonly state: UserStateValue;
}

/** `status` is the aggregate's lifecycle; `state` (active, pending, suspended) is the user's own field. */
export type UserState =
  | { readonly status: 'absent' }
  | ({ readonly status: 'exists'; readonly id: string; readonly organizationId: string } & UserDetails)
  | { readonly status: 'deleted'; readonly id: string; readonly organizationId: string; readonly subject: string };

/**
 * Every user event but activity carries the user's whole state (or its
 * deletion), so a load reads the stream backwards only to the newest of them.
 * (Activity, which older versions wrote into this stream, is passed over.)
 * Bump the version when UserState or evolve changes.
 */
const userSnapshots = openingBalances<UserState, UserEvent>('user-1', ['user.created', 'user.updated', 'user.deleted']);

export const userDecider: Decider<UserState, UserEvent> & { readonly snapshot: SnapshotPolicy<UserState, UserEvent> } = {
  snapshot: userSnapshots,
  initialState: () => ({ status: 'absent' }),
  evolve(state, event) {
    switch (event.type) {
      case 'user.created':
      case 'user.updated': {
        const { userId, organizationId, ...details } = event.data;
        return { status: 'exists', id: userId, organizationId, ...details };
      }
      case 'user.deleted':
        return { status: 'deleted', id: event.data.userId, organizationId: event.data.organizationId, subject: event.data.subject };
      case 'user.activity.recorded':
        return state; // activity is for the read model; it decides nothing
      default:
        return assertNever(event);
    }
  },
};

export interface UserCommand extends UserDetails {
  readonly userId: string;
  readonly organizationId: string;
}

/** Is this a user of that organization? Used wherever a user is referenced by id. */
export const isUserOf = (state: UserState, organizationId: string): state is Extract<UserState, { status: 'exists' }> =>
  state.status === 'exists' && state.organizationId === organizationId;

function stateData(userId: string, organizationId: string, details: UserDetails) {
  const { name, description, tags, subject, state } = details;
  return { userId, organizationId, name, ...(description !== undefined && { description }), tags: [...tags], subject, state };
}

const sameDetails = (a: UserDetails, b: UserDetails): boolean =>
  JSON.stringify([a.name, a.description ?? null, a.tags, a.subject, a.state]) ===
  JSON.stringify([b.name, b.description ?? null, b.tags, b.subject, b.state]);

const notFound = (userId: string) => new NotFoundError(`user ${userId} not found`);

export function createUser(state: UserState, command: UserCommand): UserEvent[] {
  if (state.status !== 'absent') throw new ConflictError(`user ${command.userId} already exists`);
  return [{ type: 'user.created', data: stateData(command.userId, command.organizationId, command) }];
}

export function updateUser(state: UserState, command: UserCommand): UserEvent[] {
  if (!isUserOf(state, command.organizationId)) throw notFound(command.userId);
  if (sameDetails(state, command)) return [];
  return [{ type: 'user.updated', data: stateData(state.id, state.organizationId, command) }];
}

export function deleteUser(state: UserState, command: { userId: string; organizationId: string }): UserEvent[] {
  if (!isUserOf(state, command.organizationId)) throw notFound(command.userId);
  return [{ type: 'user.deleted', data: { userId: state.id, organizationId: state.organizationId, subject: state.subject } }];
}
