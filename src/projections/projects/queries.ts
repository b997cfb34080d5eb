import { type ListFields, listPage, type ListQuery, ORGANIZATION_SCOPED_FIELDS } from '../../query/index.js';
import type { Filter, ReadModelStore } from '../../ports/read-models.js';
import { PROJECTS, type ProjectDocument } from './projection.js';

export const PROJECT_FIELDS: ListFields = {
  ...ORGANIZATION_SCOPED_FIELDS,
  groupID: { path: 'spec.groupIDs', type: 'string', searchable: false },
};

const toResource = ({ _id, _position, ...resource }: ProjectDocument) => resource;

export class ProjectQueries {
  constructor(private readonly readModels: ReadModelStore) {}

  private get collection() {
    return this.readModels.collection<ProjectDocument>(PROJECTS);
  }

  /** The project, if it belongs to the organization: another tenant's project is not found. */
  async get(organizationId: string, projectId: string) {
    const doc = await this.collection.findById(projectId);
    return doc && doc.metadata.organizationId === organizationId ? toResource(doc) : undefined;
  }

  /** A page of the organization's projects, limited to `scope` unless it is 'all'. */
  async list(organizationId: string, query: ListQuery, scope: 'all' | string[]) {
    const base: Filter = { 'metadata.organizationId': organizationId, ...(scope !== 'all' && { _id: { $in: scope } }) };
    return listPage(this.collection, query, PROJECT_FIELDS, base, toResource);
  }
}
