import type { QuotaKind } from '../../domain/resource-ledger/decider.js';
import type { ReadModelStore } from '../../ports/read-models.js';
import type { AllocationQueries } from '../allocations/queries.js';
import { QUOTAS, type QuotasDocument } from './projection.js';

export interface QuotaView {
  kind: string;
  quantity: number;
  used: number;
  free: number;
  committed: number;
  reserved: number;
  displayName: string;
  description: string;
  default: number;
}

export class QuotaQueries {
  constructor(
    private readonly readModels: ReadModelStore,
    private readonly allocations: AllocationQueries,
    private readonly kinds: readonly QuotaKind[],
  ) {}

  /** Every configured kind, with the organization's quantity (or the default) and what its allocations use. */
  async get(organizationId: string): Promise<{ quotas: QuotaView[] }> {
    const doc = await this.readModels.collection<QuotasDocument>(QUOTAS).findById(organizationId);
    const usage = await this.allocations.usage(organizationId);
    const quotas = this.kinds.map((kind) => {
      const quantity = doc && Object.hasOwn(doc.quantities, kind.kind) ? doc.quantities[kind.kind]! : kind.default;
      const { committed, reserved } = usage.get(kind.kind) ?? { committed: 0, reserved: 0 };
      const used = committed + reserved;
      return {
        kind: kind.kind,
        quantity,
        used,
        free: quantity - used,
        committed,
        reserved,
        displayName: kind.displayName,
        description: kind.description,
        default: kind.default,
      };
    });
    return { quotas };
  }
}
