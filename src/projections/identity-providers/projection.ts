import type { IdentityProviderEvent, OAuth2ProviderType } from '../../domain/identity-provider/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';
import { createdMetadata, type OrganizationScopedResourceReadMetadata, updatedMetadata } from '../resource-metadata.js';

/**
 * An organization's identity provider as the API reads it (the seed's
 * oauth2ProviderRead), plus the document id. The client secret, even sealed,
 * is not kept here: only the provider's stream holds it.
 */
export interface IdentityProviderDocument extends Document {
  metadata: OrganizationScopedResourceReadMetadata;
  spec: { type?: OAuth2ProviderType; issuer: string; clientID: string };
}

type IdpEvent<T extends IdentityProviderEvent['type']> = RecordedEvent<T, Extract<IdentityProviderEvent, { type: T }>['data']>;

export const IDENTITY_PROVIDERS = 'identity_providers';

const specOf = ({ type, issuer, clientID }: IdpEvent<'identity_provider.created'>['data']): IdentityProviderDocument['spec'] => ({
  ...(type !== undefined && { type }),
  issuer,
  clientID,
});

export const identityProvidersProjection = defineProjection<IdentityProviderDocument>({
  name: 'identity-providers',
  collection: IDENTITY_PROVIDERS,
  indexes: [{ fields: ['metadata.organizationId'] }, { fields: ['metadata.organizationId', 'metadata.name', '_id'] }],
  handlers: {
    'identity_provider.created': async (event: IdpEvent<'identity_provider.created'>, docs) => {
      const { providerId, organizationId } = event.data;
      await docs.update(providerId, () => ({
        _id: providerId,
        metadata: { ...createdMetadata(event, providerId), organizationId },
        spec: specOf(event.data),
      }));
    },
    'identity_provider.updated': async (event: IdpEvent<'identity_provider.updated'>, docs) => {
      await docs.update(event.data.providerId, (doc) => doc && { ...doc, metadata: updatedMetadata(doc.metadata, event), spec: specOf(event.data) });
    },
    'identity_provider.deleted': async (event: IdpEvent<'identity_provider.deleted'>, docs) => {
      await docs.update(event.data.providerId, () => undefined);
    },
  },
});
