import type { OrganizationEvent } from '../../domain/organization/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';
import { createdMetadata, deletionRequestedMetadata, type ResourceReadMetadata, updatedMetadata, withStatus } from '../resource-metadata.js';

/** An organization as the API reads it (the seed's organizationRead), plus the document id. */
export interface OrganizationDocument extends Document {
  /** With the organization's tenant number, once it has one (the compatible APIs' tenantId). */
  metadata: ResourceReadMetadata & { tenantId?: number };
  spec: Record<string, unknown>;
}

type Event<T extends OrganizationEvent['type']> = RecordedEvent<T, Extract<OrganizationEvent, { type: T }>['data']>;

export const ORGANIZATIONS = 'organizations';

export const organizationsProjection = defineProjection<OrganizationDocument>({
  name: 'organizations',
  collection: ORGANIZATIONS,
  indexes: [{ fields: ['metadata.name'] }, { fields: ['metadata.name', '_id'] }, { fields: ['metadata.tenantId'] }],
  handlers: {
    'organization.created': async (event: Event<'organization.created'>, docs) => {
      const { organizationId, spec } = event.data;
      // Provisioned only once the provisioning process has seen it (organization.provisioned).
      await docs.update(organizationId, () => ({ _id: organizationId, metadata: createdMetadata(event, organizationId, 'provisioning'), spec }));
    },
    'organization.provisioned': async (event: Event<'organization.provisioned'>, docs) => {
      await docs.update(event.data.organizationId, (doc) => doc && withStatus(doc, 'provisioned', 'healthy', 'provisioning'));
    },
    'organization.provisioning_failed': async (event: Event<'organization.provisioning_failed'>, docs) => {
      await docs.update(event.data.organizationId, (doc) => doc && withStatus(doc, 'error', 'error', 'provisioning'));
    },
    'organization.updated': async (event: Event<'organization.updated'>, docs) => {
      await docs.update(event.data.organizationId, (doc) => doc && { ...doc, metadata: updatedMetadata(doc.metadata, event), spec: event.data.spec });
    },
    'organization.deletion_requested': async (event: Event<'organization.deletion_requested'>, docs) => {
      await docs.update(event.data.organizationId, (doc) => doc && { ...doc, metadata: deletionRequestedMetadata(doc.metadata, event) });
    },
    'organization.deletion_failed': async (event: Event<'organization.deletion_failed'>, docs) => {
      await docs.update(event.data.organizationId, (doc) => doc && withStatus(doc, 'error', 'error', 'deprovisioning'));
    },
    'organization.tenant_number.assigned': async (event: Event<'organization.tenant_number.assigned'>, docs) => {
      await docs.update(event.data.organizationId, (doc) => doc && { ...doc, metadata: { ...doc.metadata, tenantId: event.data.tenantId } });
    },
    'organization.deleted': async (event: Event<'organization.deleted'>, docs) => {
      await docs.update(event.data.organizationId, () => undefined);
    },
  },
});
