import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { IdentityProviderEvent, OAuth2ProviderType } from './events.js';

export interface IdentityProviderDetails {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly type?: OAuth2ProviderType;
  readonly issuer: string;
  readonly clientID: string;
  /** Ciphertext only: the handler seals the secret before the decider sees it. */
  readonly sealedClientSecret?: string;
}

export type IdentityProviderState =
  | { readonly status: 'absent' }
  | ({ readonly status: 'active'; readonly id: string; readonly organizationId: string } & IdentityProviderDetails)
  | { readonly status: 'deleted'; readonly id: string; readonly organizationId: string; readonly name: string };

export const identityProviderDecider: Decider<IdentityProviderState, IdentityProviderEvent> = {
  initialState: () => ({ status: 'absent' }),
  evolve(_state, event) {
    switch (event.type) {
      case 'identity_provider.created':
      case 'identity_provider.updated': {
        const { providerId, organizationId, ...details } = event.data;
        return { status: 'active', id: providerId, organizationId, ...details };
      }
      case 'identity_provider.deleted':
        return { status: 'deleted', id: event.data.providerId, organizationId: event.data.organizationId, name: event.data.name };
      default:
        return assertNever(event);
    }
  },
};

interface Target {
  readonly providerId: string;
  /** The organization named in the request: another organization's provider is not found. */
  readonly organizationId: string;
}

const notFound = (id: string) => new NotFoundError(`identity provider ${id} not found`);

function activeIn(state: IdentityProviderState, target: Target) {
  if (state.status !== 'active' || state.organizationId !== target.organizationId) throw notFound(target.providerId);
  return state;
}

const comparable = (d: IdentityProviderDetails) =>
  JSON.stringify([d.name, d.description ?? null, d.tags, d.type ?? null, d.issuer, d.clientID, d.sealedClientSecret ?? null]);

const eventData = (target: Target, details: IdentityProviderDetails) => ({
  providerId: target.providerId,
  organizationId: target.organizationId,
  name: details.name,
  description: details.description,
  tags: [...details.tags],
  type: details.type,
  issuer: details.issuer,
  clientID: details.clientID,
  sealedClientSecret: details.sealedClientSecret,
});

export function createIdentityProvider(state: IdentityProviderState, command: Target & IdentityProviderDetails): IdentityProviderEvent[] {
  if (state.status !== 'absent') throw new ConflictError(`identity provider ${command.providerId} already exists`);
  return [{ type: 'identity_provider.created', data: eventData(command, command) }];
}

/** A PUT replaces everything but the secret, which it keeps unless a new one is given. */
export function updateIdentityProvider(state: IdentityProviderState, command: Target & IdentityProviderDetails): IdentityProviderEvent[] {
  const current = activeIn(state, command);
  const next: IdentityProviderDetails = { ...command, sealedClientSecret: command.sealedClientSecret ?? current.sealedClientSecret };
  if (comparable(current) === comparable(next)) return [];
  return [{ type: 'identity_provider.updated', data: eventData(command, next) }];
}

export function deleteIdentityProvider(state: IdentityProviderState, command: Target): IdentityProviderEvent[] {
  const current = activeIn(state, command);
  return [{ type: 'identity_provider.deleted', data: { providerId: current.id, organizationId: current.organizationId, name: current.name } }];
}
