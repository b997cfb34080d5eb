import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { ServiceAccountEvent } from './events.js';

export interface ServiceAccountDetails {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
}

/** The current credential: the digest of the one valid token, and when it stops being valid. */
export interface Credential {
  readonly tokenSha256: string;
  readonly expiry: string;
}

export type ServiceAccountState =
  | { readonly status: 'absent' }
  | ({ readonly status: 'active'; readonly id: string; readonly organizationId: string } & ServiceAccountDetails & Credential)
  | { readonly status: 'deleted'; readonly id: string; readonly organizationId: string; readonly name: string };

export const serviceAccountDecider: Decider<ServiceAccountState, ServiceAccountEvent> = {
  initialState: () => ({ status: 'absent' }),
  evolve(state, event) {
    switch (event.type) {
      case 'serviceaccount.created': {
        const { serviceAccountId, organizationId, name, description, tags, tokenSha256, expiry } = event.data;
        return { status: 'active', id: serviceAccountId, organizationId, name, description, tags, tokenSha256, expiry };
      }
      case 'serviceaccount.updated': {
        if (state.status !== 'active') return state;
        const { name, description, tags } = event.data;
        return { ...state, name, description, tags };
      }
      case 'serviceaccount.token.rotated':
        return state.status === 'active' ? { ...state, tokenSha256: event.data.tokenSha256, expiry: event.data.expiry } : state;
      case 'serviceaccount.deleted':
        return { status: 'deleted', id: event.data.serviceAccountId, organizationId: event.data.organizationId, name: event.data.name };
      default:
        return assertNever(event);
    }
  },
};

interface Target {
  readonly serviceAccountId: string;
  /** The organization named in the request: a service account of another one is not found. */
  readonly organizationId: string;
}

const notFound = (id: string) => new NotFoundError(`service account ${id} not found`);

/** The active service account the command addresses, or NotFound (also for another organization's). */
function activeIn(state: ServiceAccountState, target: Target) {
  if (state.status !== 'active' || state.organizationId !== target.organizationId) throw notFound(target.serviceAccountId);
  return state;
}

const sameDetails = (a: ServiceAccountDetails, b: ServiceAccountDetails): boolean =>
  JSON.stringify([a.name, a.description ?? null, a.tags]) === JSON.stringify([b.name, b.description ?? null, b.tags]);

export function createServiceAccount(state: ServiceAccountState, command: Target & ServiceAccountDetails & Credential): ServiceAccountEvent[] {
  if (state.status !== 'absent') throw new ConflictError(`service account ${command.serviceAccountId} already exists`);
  const { serviceAccountId, organizationId, name, description, tags, tokenSha256, expiry } = command;
  return [{ type: 'serviceaccount.created', data: { serviceAccountId, organizationId, name, description, tags: [...tags], tokenSha256, expiry } }];
}

export function updateServiceAccount(state: ServiceAccountState, command: Target & ServiceAccountDetails): ServiceAccountEvent[] {
  const current = activeIn(state, command);
  if (sameDetails(current, command)) return [];
  const { serviceAccountId, organizationId, name, description, tags } = command;
  return [{ type: 'serviceaccount.updated', data: { serviceAccountId, organizationId, name, description, tags: [...tags] } }];
}

/** A new token replaces the old one at once: only the latest digest is ever valid. */
export function rotateServiceAccountToken(state: ServiceAccountState, command: Target & Credential): ServiceAccountEvent[] {
  activeIn(state, command);
  const { serviceAccountId, organizationId, tokenSha256, expiry } = command;
  return [{ type: 'serviceaccount.token.rotated', data: { serviceAccountId, organizationId, tokenSha256, expiry } }];
}

export function deleteServiceAccount(state: ServiceAccountState, command: Target): ServiceAccountEvent[] {
  const current = activeIn(state, command);
  return [{ type: 'serviceaccount.deleted', data: { serviceAccountId: current.id, organizationId: current.organizationId, name: current.name } }];
}
