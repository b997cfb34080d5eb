import { cursorPage, type ListFields, listPage, type ListQuery, listQueryClauses, ORGANIZATION_SCOPED_FIELDS, withBase } from '../../query/index.js';
import type { ReadModelStore } from '../../ports/read-models.js';
import { USERS, type UserDocument } from './projection.js';

export const USER_FIELDS: ListFields = {
  ...ORGANIZATION_SCOPED_FIELDS,
  subject: { path: 'spec.subject', type: 'string' },
  state: { path: 'spec.state', type: 'string', searchable: false },
  // An array path: groupIDs==<id> matches the members of that group.
  groupIDs: { path: 'spec.groupIDs', type: 'string', searchable: false, list: true },
  lastActive: { path: 'status.lastActive', type: 'date' },
};

const toResource = ({ _id, _position, subjectKey, loginName: _loginName, loginNameKey: _loginNameKey, account: _account, ...resource }: UserDocument) => resource;

export class UserQueries {
  constructor(private readonly readModels: ReadModelStore) {}

  private get collection() {
    return this.readModels.collection<UserDocument>(USERS);
  }

  /** A user of the organization; one of another organization is not found. */
  async get(organizationId: string, userId: string) {
    const doc = await this.collection.findById(userId);
    return doc?.metadata.organizationId === organizationId ? toResource(doc) : undefined;
  }

  async list(organizationId: string, query: ListQuery) {
    return listPage(this.collection, query, USER_FIELDS, { 'metadata.organizationId': organizationId }, toResource);
  }

  /** A cursor page of the organization's users matching a filter expression (docs/query-language.md). */
  async search(
    organizationId: string,
    request: { filterExpression?: string | undefined; sortBy?: string | undefined; sortOrder: 'asc' | 'desc'; cursor?: string | undefined; limit: number },
  ) {
    const filter = withBase({ 'metadata.organizationId': organizationId }, listQueryClauses({ filterExpression: request.filterExpression }, USER_FIELDS));
    return cursorPage(this.collection, USER_FIELDS, { filter, sortBy: request.sortBy ?? 'name', sortOrder: request.sortOrder, cursor: request.cursor, limit: request.limit }, toResource);
  }
}
