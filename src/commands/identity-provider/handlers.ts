import { v4 as uuidv4 } from 'uuid';
import {
  createIdentityProvider,
  deleteIdentityProvider,
  identityProviderDecider,
  type IdentityProviderDetails,
  updateIdentityProvider,
} from '../../domain/identity-provider/decider.js';
import { identityProviderStream } from '../../domain/identity-provider/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { ConflictError, NotFoundError } from '../../domain/shared/errors.js';
import type { EventStore } from '../../ports/event-store.js';
import type { SecretSealer } from '../../infra/secrets/sealer.js';
import { requireActiveOrganization } from '../organization/guards.js';
import { handleCommand, loadState } from '../pipeline.js';
import { claimUnique, releaseUnique } from '../reservations.js';

/** What a request gives: the client secret in clear, sealed here before any event holds it. */
export type IdentityProviderInput = Omit<IdentityProviderDetails, 'sealedClientSecret'> & { readonly clientSecret?: string };

const nameScope = (organizationId: string) => `identityprovider-name.${organizationId}`;
/** The sealed secret is bound to its provider: copied onto another, it does not open. */
const secretContext = (providerId: string) => `identityprovider:${providerId}`;

export class IdentityProviderCommands {
  constructor(
    private readonly store: EventStore,
    private readonly sealer: SecretSealer,
  ) {}

  private details(providerId: string, input: IdentityProviderInput): IdentityProviderDetails {
    const { clientSecret, ...rest } = input;
    return { ...rest, ...(clientSecret !== undefined && { sealedClientSecret: this.sealer.seal(clientSecret, secretContext(providerId)) }) };
  }

  private async claimName(organizationId: string, name: string, providerId: string, meta: CommandMetadata) {
    try {
      await claimUnique(this.store, { scope: nameScope(organizationId), value: name, ownerId: providerId }, identityProviderStream, meta);
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`an identity provider named "${name}" already exists in this organization`);
      throw error;
    }
  }

  private releaseName(organizationId: string, name: string, providerId: string, meta: CommandMetadata) {
    return releaseUnique(this.store, { scope: nameScope(organizationId), value: name, ownerId: providerId }, meta);
  }

  async create(organizationId: string, input: IdentityProviderInput, meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    const providerId = uuidv4();
    await this.claimName(organizationId, input.name, providerId, meta);
    const details = this.details(providerId, input);
    const result = await handleCommand(
      this.store,
      identityProviderStream(providerId),
      identityProviderDecider,
      (state) => createIdentityProvider(state, { providerId, organizationId, ...details }),
      meta,
    );
    return { providerId, position: result.position };
  }

  /** Replace the provider; without a client secret, the current one stays. */
  async update(organizationId: string, providerId: string, input: IdentityProviderInput, meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    const stream = identityProviderStream(providerId);
    const { state: before } = await loadState(this.store, stream, identityProviderDecider);
    if (before.status !== 'active' || before.organizationId !== organizationId) throw new NotFoundError(`identity provider ${providerId} not found`);
    const renamed = before.name.toLowerCase() !== input.name.toLowerCase();
    if (renamed) await this.claimName(organizationId, input.name, providerId, meta);
    const details = this.details(providerId, input);
    let result;
    try {
      result = await handleCommand(this.store, stream, identityProviderDecider, (state) => updateIdentityProvider(state, { providerId, organizationId, ...details }), meta);
    } catch (error) {
      if (renamed) await this.releaseName(organizationId, input.name, providerId, meta);
      throw error;
    }
    if (renamed) await this.releaseName(organizationId, before.name, providerId, meta);
    return { position: result.position };
  }

  async delete(organizationId: string, providerId: string, meta: CommandMetadata) {
    const result = await handleCommand(
      this.store,
      identityProviderStream(providerId),
      identityProviderDecider,
      (state) => deleteIdentityProvider(state, { providerId, organizationId }),
      meta,
    );
    if (result.state.status === 'deleted') await this.releaseName(organizationId, result.state.name, providerId, meta);
    return { position: result.position };
  }

  /**
   * The client secret in clear, for talking to the provider (the sign-in flow);
   * undefined when the provider has none. Read from the write side, the only place it is kept.
   */
  async clientSecret(organizationId: string, providerId: string): Promise<string | undefined> {
    const { state } = await loadState(this.store, identityProviderStream(providerId), identityProviderDecider);
    if (state.status !== 'active' || state.organizationId !== organizationId) throw new NotFoundError(`identity provider ${providerId} not found`);
    return state.sealedClientSecret === undefined ? undefined : this.sealer.open(state.sealedClientSecret, secretContext(providerId));
  }
}
