import { GROUPS_COLLECTION } from '../../api/auth/access-control.js';
import { type ListFields, listPage, type ListQuery, ORGANIZATION_SCOPED_FIELDS } from '../../query/index.js';
import type { Document, ReadModelStore } from '../../ports/read-models.js';
import { SERVICE_ACCOUNTS, type ServiceAccountDocument } from './projection.js';

export const SERVICE_ACCOUNT_FIELDS: ListFields = {
  ...ORGANIZATION_SCOPED_FIELDS,
  expiry: { path: 'status.expiry', type: 'date' },
};

/** The fields of the groups read model a service account's membership is checked against. */
export interface GroupSummary {
  readonly id: string;
  readonly roleIDs: readonly string[];
  readonly serviceAccountIDs: readonly string[];
}

interface GroupDocument extends Document {
  metadata: { id: string; organizationId: string };
  spec: { roleIDs: string[]; serviceAccountIDs?: string[] };
}

const toResource = ({ _id, _position, ...resource }: ServiceAccountDocument) => resource;

export class ServiceAccountQueries {
  constructor(private readonly readModels: ReadModelStore) {}

  private get collection() {
    return this.readModels.collection<ServiceAccountDocument>(SERVICE_ACCOUNTS);
  }

  /** The service account, if it exists in that organization. */
  async get(organizationId: string, serviceAccountId: string) {
    const doc = await this.collection.findById(serviceAccountId);
    return doc && doc.metadata.organizationId === organizationId ? toResource(doc) : undefined;
  }

  async list(organizationId: string, query: ListQuery) {
    return listPage(this.collection, query, SERVICE_ACCOUNT_FIELDS, { 'metadata.organizationId': organizationId }, toResource);
  }

  /** Those of the given groups that exist in the organization. */
  async groups(organizationId: string, groupIds: readonly string[]): Promise<GroupSummary[]> {
    if (groupIds.length === 0) return [];
    const found = await this.readModels
      .collection<GroupDocument>(GROUPS_COLLECTION)
      .find({ 'metadata.organizationId': organizationId, 'metadata.id': { $in: [...groupIds] } });
    return found.map((g) => ({ id: g.metadata.id, roleIDs: g.spec.roleIDs, serviceAccountIDs: g.spec.serviceAccountIDs ?? [] }));
  }
}
