import { type ListFields, listPage, type ListQuery, ORGANIZATION_SCOPED_FIELDS } from '../../query/index.js';
import type { Filter, ReadModelStore } from '../../ports/read-models.js';
import { ALLOCATIONS, type AllocationDocument } from './projection.js';

export const ALLOCATION_FIELDS: ListFields = {
  ...ORGANIZATION_SCOPED_FIELDS,
  projectId: { path: 'metadata.projectId', type: 'string', searchable: false },
  kind: { path: 'spec.kind', type: 'string' },
  resourceId: { path: 'spec.id', type: 'string' },
};

const toResource = ({ _id, _position, ...resource }: AllocationDocument) => resource;

export class AllocationQueries {
  constructor(private readonly readModels: ReadModelStore) {}

  private get collection() {
    return this.readModels.collection<AllocationDocument>(ALLOCATIONS);
  }

  /** The allocation, if it belongs to that organization and project; otherwise not found. */
  async get(organizationId: string, projectId: string, allocationId: string) {
    const doc = await this.collection.findById(allocationId);
    const belongs = doc && doc.metadata.organizationId === organizationId && doc.metadata.projectId === projectId;
    return belongs ? toResource(doc) : undefined;
  }

  /** A page of the organization's allocations, limited to the projects in `scope` unless it is 'all'. */
  async list(organizationId: string, query: ListQuery, scope: 'all' | string[]) {
    const base: Filter = { 'metadata.organizationId': organizationId, ...(scope !== 'all' && { 'metadata.projectId': { $in: scope } }) };
    return listPage(this.collection, query, ALLOCATION_FIELDS, base, toResource);
  }

  /** committed and reserved per kind, over all of the organization's allocations. */
  async usage(organizationId: string): Promise<Map<string, { committed: number; reserved: number }>> {
    const usage = new Map<string, { committed: number; reserved: number }>();
    for (const doc of await this.collection.find({ 'metadata.organizationId': organizationId })) {
      for (const { kind, committed, reserved } of doc.spec.allocations) {
        const sum = usage.get(kind) ?? { committed: 0, reserved: 0 };
        usage.set(kind, { committed: sum.committed + committed, reserved: sum.reserved + reserved });
      }
    }
    return usage;
  }
}
