import { type ListFields, listPage, type ListQuery, METADATA_FIELDS, ORGANIZATION_SCOPED_FIELDS } from '../../query/index.js';
import type { Config } from '../../config.js';
import { MemoryReadModelStore } from '../../infra/memory/memory-read-models.js';
import type { Collection, Document, ReadModelStore } from '../../ports/read-models.js';
import { IDENTITY_PROVIDERS, type IdentityProviderDocument } from './projection.js';

export const IDENTITY_PROVIDER_FIELDS: ListFields = {
  ...ORGANIZATION_SCOPED_FIELDS,
  type: { path: 'spec.type', type: 'string', searchable: false },
  issuer: { path: 'spec.issuer', type: 'string' },
  clientID: { path: 'spec.clientID', type: 'string', searchable: false },
};

const toResource = <T extends Document>({ _id, _position, ...resource }: T) => resource;

export class IdentityProviderQueries {
  constructor(private readonly readModels: ReadModelStore) {}

  private get collection() {
    return this.readModels.collection<IdentityProviderDocument>(IDENTITY_PROVIDERS);
  }

  /** The provider, if it exists in that organization. */
  async get(organizationId: string, providerId: string) {
    const doc = await this.collection.findById(providerId);
    return doc && doc.metadata.organizationId === organizationId ? toResource(doc) : undefined;
  }

  async list(organizationId: string, query: ListQuery) {
    return listPage(this.collection, query, IDENTITY_PROVIDER_FIELDS, { 'metadata.organizationId': organizationId }, toResource);
  }
}

/** A built-in provider as the API reads it (the seed's systemOauth2ProviderRead). */
interface SystemProviderDocument extends Document {
  metadata: { id: string; name: string; description?: string; creationTime: string; createdBy: string; provisioningStatus: 'provisioned'; healthStatus: 'healthy' };
  spec: { type: string; issuer: string; clientID: string };
}

export const SYSTEM_PROVIDER_FIELDS: ListFields = {
  ...METADATA_FIELDS,
  type: { path: 'spec.type', type: 'string', searchable: false },
  issuer: { path: 'spec.issuer', type: 'string' },
};

/**
 * The platform's built-in providers come from configuration, not events; they
 * are held in an in-memory collection so that their list takes the same list
 * query as every other. Their creation time is when this process read them.
 */
export class SystemProviderQueries {
  private readonly ready: Promise<Collection<SystemProviderDocument>>;

  constructor(providers: Config['OAUTH2_PROVIDERS'], loadedAt = new Date()) {
    this.ready = (async () => {
      const collection = new MemoryReadModelStore().collection<SystemProviderDocument>('system_oauth2providers');
      for (const { id, name, description, type, issuer, clientID } of providers) {
        await collection.put({
          _id: id,
          metadata: {
            id,
            name,
            ...(description !== undefined && { description }),
            creationTime: loadedAt.toISOString(),
            createdBy: 'system',
            provisioningStatus: 'provisioned',
            healthStatus: 'healthy',
          },
          spec: { type, issuer, clientID },
        });
      }
      return collection;
    })();
  }

  async list(query: ListQuery) {
    return listPage(await this.ready, query, SYSTEM_PROVIDER_FIELDS, {}, toResource);
  }
}
