import type { ReadModelStore } from '../../ports/read-models.js';
import { ORGANIZATIONS, type OrganizationDocument } from './projection.js';

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

  async list() {
    const docs = await this.collection.find({}, { sort: { 'metadata.name': 1 } });
    return docs.map(toResource);
  }
}
