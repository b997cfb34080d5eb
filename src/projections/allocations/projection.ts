import type { ResourceLedgerEvent } from '../../domain/resource-ledger/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';
import { createdMetadata, type ProjectScopedResourceReadMetadata, updatedMetadata } from '../resource-metadata.js';

/** An allocation as the API reads it (the seed's allocationRead), plus the document id. */
export interface AllocationDocument extends Document {
  metadata: ProjectScopedResourceReadMetadata;
  spec: { kind: string; id: string; allocations: Array<{ kind: string; committed: number; reserved: number }> };
}

type Event<T extends ResourceLedgerEvent['type']> = RecordedEvent<T, Extract<ResourceLedgerEvent, { type: T }>['data']>;

export const ALLOCATIONS = 'allocations';

export const allocationsProjection = defineProjection<AllocationDocument>({
  name: 'allocations',
  collection: ALLOCATIONS,
  indexes: [{ fields: ['metadata.organizationId'] }, { fields: ['metadata.projectId'] }, { fields: ['metadata.organizationId', 'metadata.name', '_id'] }],
  handlers: {
    'allocation.created': async (event: Event<'allocation.created'>, docs) => {
      const { allocationId, organizationId, projectId, spec } = event.data;
      await docs.update(allocationId, () => ({
        _id: allocationId,
        // An allocation is bookkeeping: nothing to provision.
        metadata: { ...createdMetadata(event, allocationId, 'provisioned'), organizationId, projectId },
        spec,
      }));
    },
    'allocation.updated': async (event: Event<'allocation.updated'>, docs) => {
      const { allocationId, spec } = event.data;
      await docs.update(allocationId, (doc) => doc && { ...doc, metadata: updatedMetadata(doc.metadata, event), spec });
    },
    'allocation.deleted': async (event: Event<'allocation.deleted'>, docs) => {
      await docs.update(event.data.allocationId, () => undefined);
    },
  },
});
