import type { ResourceLedgerEvent } from '../../domain/resource-ledger/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';

/**
 * The quotas an organization has set, one document per organization (id =
 * the organization's). Kinds not set here have their configured default;
 * usage comes from the allocations read model.
 */
export interface QuotasDocument extends Document {
  metadata: { organizationId: string };
  quantities: Record<string, number>;
}

type Event<T extends ResourceLedgerEvent['type']> = RecordedEvent<T, Extract<ResourceLedgerEvent, { type: T }>['data']>;

export const QUOTAS = 'quotas';

export const quotasProjection = defineProjection<QuotasDocument>({
  name: 'quotas',
  collection: QUOTAS,
  indexes: [{ fields: ['metadata.organizationId'] }],
  handlers: {
    'quotas.updated': async (event: Event<'quotas.updated'>, docs) => {
      const { organizationId, quotas } = event.data;
      await docs.update(organizationId, (doc) => {
        const quantities = { ...doc?.quantities };
        for (const { kind, quantity } of quotas) quantities[kind] = quantity;
        return { _id: organizationId, metadata: { organizationId }, quantities };
      });
    },
    // The organization's cascade closed its ledger: its quotas are gone with it.
    'resource_ledger.closed': async (event: Event<'resource_ledger.closed'>, docs) => {
      await docs.update(event.data.organizationId, () => undefined);
    },
  },
});
