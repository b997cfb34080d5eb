import { type ListFields, listPage, type ListQuery, METADATA_FIELDS } from '../../query/index.js';
import type { Document, Filter, ReadModelStore } from '../../ports/read-models.js';
import { ORGANIZATIONS, type OrganizationDocument } from './projection.js';

/** The users read model, for "which organizations is this email a member of": its
 * documents keep the subject lower-cased in `subjectKey`, indexed. */
const USERS = 'users';

export const ORGANIZATION_FIELDS: ListFields = {
  ...METADATA_FIELDS,
  organizationType: { path: 'spec.organizationType', type: 'string', searchable: false },
  domain: { path: 'spec.domain', type: 'string' },
};

const toResource = ({ _id, _position, ...resource }: OrganizationDocument) => resource;

export class OrganizationQueries {
  constructor(private readonly readModels: ReadModelStore) {}

  private get collection() {
    return this.readModels.collection<OrganizationDocument>(ORGANIZATIONS);
  }

  async get(organizationId: string) {
    const doc = await this.collection.findById(organizationId);
    return doc && toResource(doc);
  }

  /** The organization with this tenant number (the compatible APIs' tenantId), if any. */
  async byTenantId(tenantId: number) {
    const doc = await this.collection.findOne({ 'metadata.tenantId': tenantId });
    return doc && toResource(doc);
  }

  /** A page of the organizations in scope; with an email, only those where a user with that subject is a member. */
  async list(query: ListQuery, scope: 'all' | string[], email?: string) {
    let ids: string[] | undefined = scope === 'all' ? undefined : scope;
    if (email !== undefined) {
      const members = await this.readModels.collection<Document & { metadata: { organizationId: string } }>(USERS).find({ subjectKey: email.toLowerCase() });
      const memberOf = new Set(members.map((user) => user.metadata.organizationId));
      ids = (ids ?? [...memberOf]).filter((id) => memberOf.has(id));
    }
    const base: Filter = ids === undefined ? {} : { _id: { $in: ids } };
    return listPage(this.collection, query, ORGANIZATION_FIELDS, base, toResource);
  }
}
