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
          provisioningStatus: 'provisioned',
          healthStatus: 'healthy',
        },
        spec,
      }));
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
      await docs.update(event.data.organizationId, (doc) =>
        doc && {
          ...doc,
          metadata: { ...doc.metadata, deletionTime: event.metadata.occurredAt, provisioningStatus: 'deprovisioning' },
        },
      );
    },
    'organization.deleted': async (event: Event<'organization.deleted'>, docs) => {
      await docs.update(event.data.organizationId, () => undefined);
    },
  },
});
