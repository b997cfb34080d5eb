import type { ApiKeyEvent } from '../../domain/api-key/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';

/**
 * The bearer-token resolver's view of API keys (docs/accounts.md): one
 * document per live key, by key id, with the digest of the key. A write
 * answers only after this has applied it, so a replaced or revoked key is
 * refused from the next request on. Never shown by any API.
 */
export interface ApiKeyCredentialDocument extends Document {
  userId: string;
  organizationId: string;
  tokenSha256: string;
  expiresAt: string;
}

export const API_KEY_CREDENTIALS = 'apikey_credentials';

type Event<T extends ApiKeyEvent['type']> = RecordedEvent<T, Extract<ApiKeyEvent, { type: T }>['data']>;

export const apiKeyCredentialsProjection = defineProjection<ApiKeyCredentialDocument>({
  name: 'api-key-credentials',
  collection: API_KEY_CREDENTIALS,
  indexes: [{ fields: ['userId'] }, { fields: ['organizationId'] }],
  handlers: {
    'api_key.generated': async (event: Event<'api_key.generated'>, docs) => {
      const { keyId, userId, organizationId, tokenSha256, expiresAt } = event.data;
      await docs.update(keyId, () => ({ _id: keyId, userId, organizationId, tokenSha256, expiresAt }));
    },
    'api_key.revoked': async (event: Event<'api_key.revoked'>, docs) => {
      await docs.update(event.data.keyId, () => undefined);
    },
    // A deleted account's key dies with it (the resolver also checks the account).
    'user.deleted': async (event: RecordedEvent<'user.deleted', { userId: string }>, docs) => {
      await docs.updateWhere({ userId: event.data.userId }, () => undefined);
    },
    'organization.deletion_requested': async (event: RecordedEvent<'organization.deletion_requested', { organizationId: string }>, docs) => {
      await docs.updateWhere({ organizationId: event.data.organizationId }, () => undefined);
    },
  },
});
