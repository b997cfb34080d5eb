import type { OrganizationEvent } from '../../domain/organization/events.js';
import type { HealthStatus, ProvisioningStatus, Tag } from '../../domain/shared/resource.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';

/** An organization as the API reads it (the seed's organizationRead), plus the document id. */
export interface OrganizationDocument extends Document {
  metadata: {
    id: string;
    name: string;
    description?: string;
    tags?: Tag[];
    creationTime: string;
    createdBy: string;
    modifiedTime?: string;
    modifiedBy?: string;
    deletionTime?: string;
    provisioningStatus: ProvisioningStatus;
    healthStatus: HealthStatus;
  };
  spec: Record<string, unknown>;
}

type Event<T extends OrganizationEvent['type']> = RecordedEvent<T, Extract<OrganizationEvent, { type: T }>['data']>;

export const ORGANIZATIONS = 'organizations';

/** Move the status on, but only from the one it is expected to be in: a late event must not undo a deletion. */
const withStatus = (doc: OrganizationDocument, provisioningStatus: ProvisioningStatus, healthStatus: HealthStatus, from: ProvisioningStatus): OrganizationDocument =>
  doc.metadata.provisioningStatus === from ? { ...doc, metadata: { ...doc.metadata, provisioningStatus, healthStatus } } : doc;

export const organizationsProjection = defineProjection<OrganizationDocument>({
  name: 'organizations',
  collection: ORGANIZATIONS,
  indexes: [{ fields: ['metadata.name'] }],
  handlers: {
    'organization.created': async (event: Event<'organization.created'>, docs) => {
      const { organizationId, name, description, tags, spec } = event.data;
      await docs.update(organizationId, () => ({
        _id: organizationId,
        metadata: {
          id: organizationId,
          name,
          ...(description !== undefined && { description }),
          tags,
          creationTime: event.metadata.occurredAt,
          createdBy: event.metadata.actor.subject,
          // Provisioned only once the provisioning process has seen it (organization.provisioned).
          provisioningStatus: 'provisioning',
          healthStatus: 'healthy',
        },
        spec,
      }));
    },
    'organization.provisioned': async (event: Event<'organization.provisioned'>, docs) => {
      await docs.update(event.data.organizationId, (doc) => doc && withStatus(doc, 'provisioned', 'healthy', 'provisioning'));
    },
    'organization.provisioning_failed': async (event: Event<'organization.provisioning_failed'>, docs) => {
      await docs.update(event.data.organizationId, (doc) => doc && withStatus(doc, 'error', 'error', 'provisioning'));
    },
    'organization.updated': async (event: Event<'organization.updated'>, docs) => {
      const { organizationId, name, description, tags, spec } = event.data;
      await docs.update(organizationId, (doc) => {
        if (!doc) return undefined;
        const { description: _old, ...metadata } = doc.metadata;
        return {
          ...doc,
          metadata: {
            ...metadata,
            name,
            ...(description !== undefined && { description }),
            tags,
            modifiedTime: event.metadata.occurredAt,
            modifiedBy: event.metadata.actor.subject,
          },
          spec,
        };
      });
    },
    'organization.deletion_requested': async (event: Event<'organization.deletion_requested'>, docs) => {
      await docs.update(event.data.organizationId, (doc) => {
        if (!doc) return undefined;
        // A request after a failed cascade starts it again: deprovisioning, healthy, the first deletion time kept.
        const deletionTime = doc.metadata.deletionTime ?? event.metadata.occurredAt;
        return { ...doc, metadata: { ...doc.metadata, deletionTime, provisioningStatus: 'deprovisioning', healthStatus: 'healthy' } };
      });
    },
    'organization.deletion_failed': async (event: Event<'organization.deletion_failed'>, docs) => {
      await docs.update(event.data.organizationId, (doc) => doc && withStatus(doc, 'error', 'error', 'deprovisioning'));
    },
    'organization.deleted': async (event: Event<'organization.deleted'>, docs) => {
      await docs.update(event.data.organizationId, () => undefined);
    },
  },
});
