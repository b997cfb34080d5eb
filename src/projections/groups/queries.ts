import { type ListFields, listPage, type ListQuery, ORGANIZATION_SCOPED_FIELDS } from '../../query/index.js';
import type { ReadModelStore } from '../../ports/read-models.js';
import { GROUPS, type GroupDocument } from './projection.js';

export const GROUP_FIELDS: ListFields = {
  ...ORGANIZATION_SCOPED_FIELDS,
  // An array path: roleIDs==administrator matches groups that list that role.
  roleIDs: { path: 'spec.roleIDs', type: 'string', searchable: false },
};

const toResource = ({ _id, _position, ...resource }: GroupDocument) => resource;

export class GroupQueries {
  constructor(private readonly readModels: ReadModelStore) {}

  private get collection() {
    return this.readModels.collection<GroupDocument>(GROUPS);
  }

  /** A group of the organization; one of another organization is not found. */
  async get(organizationId: string, groupId: string) {
    const doc = await this.collection.findById(groupId);
    return doc?.metadata.organizationId === organizationId ? toResource(doc) : undefined;
  }

  async list(organizationId: string, query: ListQuery) {
    return listPage(this.collection, query, GROUP_FIELDS, { 'metadata.organizationId': organizationId }, toResource);
  }
}
