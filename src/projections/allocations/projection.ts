import type { ResourceLedgerEvent } from '../../domain/resource-ledger/events.js';
import type { HealthStatus, ProvisioningStatus, Tag } from '../../domain/shared/resource.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';

/** An allocation as the API reads it (the seed's allocationRead), plus the document id. */
export interface AllocationDocument extends Document {
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
    organizationId: string;
    projectId: string;
  };
  spec: { kind: string; id: string; allocations: Array<{ kind: string; committed: number; reserved: number }> };
}

type Event<T extends ResourceLedgerEvent['type']> = RecordedEvent<T, Extract<ResourceLedgerEvent, { type: T }>['data']>;

export const ALLOCATIONS = 'allocations';

export const allocationsProjection = defineProjection<AllocationDocument>({
  name: 'allocations',
  collection: ALLOCATIONS,
  indexes: [{ fields: ['metadata.organizationId'] }, { fields: ['metadata.projectId'] }],
  handlers: {
    'allocation.created': async (event: Event<'allocation.created'>, docs) => {
      const { allocationId, organizationId, projectId, name, description, tags, spec } = event.data;
      await docs.update(allocationId, () => ({
        _id: allocationId,
        metadata: {
          id: allocationId,
          name,
          ...(description !== undefined && { description }),
          tags,
          creationTime: event.metadata.occurredAt,
          createdBy: event.metadata.actor.subject,
          // An allocation is bookkeeping: nothing to provision.
          provisioningStatus: 'provisioned',
          healthStatus: 'healthy',
          organizationId,
          projectId,
        },
        spec,
      }));
    },
    'allocation.updated': async (event: Event<'allocation.updated'>, docs) => {
      const { allocationId, name, description, tags, spec } = event.data;
      await docs.update(allocationId, (doc) => {
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
    'allocation.deleted': async (event: Event<'allocation.deleted'>, docs) => {
      await docs.update(event.data.allocationId, () => undefined);
    },
  },
});
