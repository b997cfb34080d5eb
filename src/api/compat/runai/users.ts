import { COMPAT_ROLE_IDS, type CompatRoleId } from '../../../domain/rbac/roles.js';
import type { Filter, ReadModelStore, SortSpec } from '../../../ports/read-models.js';
import { GROUPS, type GroupDocument } from '../../../projections/groups/projection.js';
import { USERS, type UserDocument } from '../../../projections/users/projection.js';
import { InvalidRequestError } from '../../http/errors.js';
import { booleanField, type CompatField, compileFilterBy } from './filter-by.js';
import type { CompatUser, UsersQuery } from './schemas.js';

/**
 * Users of the compatible APIs are the users of the users read model, read
 * through a thin mapping: the seed's field names onto document paths (and, for
 * the computed ones, onto query documents), and each document onto the seed's shape.
 */

const isLocal = { 'status.identities': { $exists: false } };
const isFederated = { 'status.identities': { $exists: true } };
const nothing = { _id: { $in: [] } };

/** lastUpdated is the last modification, or the creation when there was none. */
const lastUpdatedField: CompatField = {
  kind: 'date',
  compile: (op, value) => {
    const mongo = { '==': '$eq', '!=': '$ne', '<=': '$lte', '>=': '$gte', '=@': '$eq' }[op];
    return { $or: [{ 'metadata.modifiedTime': { [mongo]: value } }, { 'metadata.modifiedTime': { $exists: false }, 'metadata.creationTime': { [mongo]: value } }] };
  },
};

const typeField: CompatField = {
  kind: 'string',
  compile: (op, value) => {
    if (op !== '==' && op !== '!=') throw new InvalidRequestError(`filterBy type: only == and != apply (regular-user, sso-user)`);
    const query = value === 'regular-user' ? isLocal : value === 'sso-user' ? isFederated : nothing;
    return op === '==' ? query : { $nor: [query] };
  },
};

export const USER_FILTER_FIELDS: Readonly<Record<string, CompatField>> = {
  id: { kind: 'string', path: 'metadata.id' },
  username: { kind: 'string', path: 'spec.subject' },
  email: { kind: 'string', path: 'spec.subject' },
  createdBy: { kind: 'string', path: 'metadata.createdBy' },
  creationTime: { kind: 'date', path: 'metadata.creationTime' },
  lastUpdated: lastUpdatedField,
  lastLogin: { kind: 'date', path: 'status.lastActive' },
  isLocal: booleanField(isLocal, isFederated),
  needToChangePassword: booleanField({ 'status.needToChangePassword': true }, { 'status.needToChangePassword': { $ne: true } }),
  type: typeField,
  entityType: typeField,
};

const SORT_PATHS: Readonly<Record<string, string>> = {
  username: 'spec.subject',
  createdBy: 'metadata.createdBy',
  lastLogin: 'status.lastActive',
  creationTime: 'metadata.creationTime',
  lastUpdated: 'metadata.modifiedTime',
  type: 'status.identities',
};

/** The deprecated `filter` parameter: attribute:value pairs. */
const ATTRIBUTES: Readonly<Record<string, string>> = {
  'runai.is_local': 'isLocal',
  'runai.need_to_change_password': 'needToChangePassword',
  username: 'username',
  email: 'email',
};

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The query document for a list or count request, in the organization. */
export function usersFilter(organizationId: string, query: Pick<UsersQuery, 'filter' | 'filterBy' | 'search'>): Filter {
  const clauses: Filter[] = compileFilterBy(query.filterBy ?? [], USER_FILTER_FIELDS);
  for (const pair of query.filter ?? []) {
    const colon = pair.indexOf(':');
    const field = colon > 0 ? ATTRIBUTES[pair.slice(0, colon)] : undefined;
    if (!field) throw new InvalidRequestError(`filter "${pair}": expected <attribute>:<value> with attribute one of ${Object.keys(ATTRIBUTES).join(', ')}`);
    clauses.push(...compileFilterBy([`${field}==${pair.slice(colon + 1)}`], USER_FILTER_FIELDS));
  }
  if (query.search !== undefined && query.search !== '') {
    clauses.push({ 'spec.subject': { $regex: escapeRegex(query.search), $options: 'i' } });
  }
  const base = { 'metadata.organizationId': organizationId };
  return clauses.length === 0 ? base : { ...base, $and: clauses };
}

export function usersSort(query: Pick<UsersQuery, 'sortBy' | 'sortOrder'>): SortSpec {
  const direction = query.sortOrder === 'desc' ? -1 : 1;
  return { [SORT_PATHS[query.sortBy ?? 'username']!]: direction, _id: direction };
}

const isCompatRole = (id: string): id is CompatRoleId => (COMPAT_ROLE_IDS as readonly string[]).includes(id);

/** The groups named by a set of user documents, by id, in the organization (one query). */
export async function groupsById(readModels: ReadModelStore, organizationId: string, groupIds: readonly string[]): Promise<Map<string, GroupDocument>> {
  if (groupIds.length === 0) return new Map();
  const groups = await readModels.collection<GroupDocument>(GROUPS).find({ 'metadata.organizationId': organizationId, _id: { $in: [...new Set(groupIds)] } });
  return new Map(groups.map((group) => [group.metadata.id, group]));
}

/** The compatible roles a user holds through its groups. */
export const rolesOf = (groupIds: readonly string[], groups: ReadonlyMap<string, GroupDocument>): CompatRoleId[] =>
  [...new Set(groupIds.flatMap((id) => groups.get(id)?.spec.roleIDs ?? []))].filter(isCompatRole).sort();

export function toCompatUser(doc: UserDocument, tenantId: number, groups: ReadonlyMap<string, GroupDocument>): CompatUser {
  const local = doc.status.identities === undefined || doc.status.identities.length === 0;
  return {
    id: doc.metadata.id,
    username: doc.spec.subject,
    email: doc.spec.subject,
    entityType: local ? 'regular-user' : 'sso-user',
    tenantId,
    isLocal: local,
    ...(doc.status.lastActive !== undefined && { lastLogin: doc.status.lastActive }),
    createdBy: doc.metadata.createdBy ?? '',
    creationTime: doc.metadata.creationTime,
    lastUpdated: doc.metadata.modifiedTime ?? doc.metadata.creationTime,
    groups: doc.spec.groupIDs.map((id) => groups.get(id)?.metadata.name).filter((name): name is string => name !== undefined),
    roles: rolesOf(doc.spec.groupIDs, groups),
    needToChangePassword: doc.status.needToChangePassword === true,
  };
}

/** Users as the compatible APIs read them: pages, counts and one user, in one organization. */
export class CompatUserQueries {
  constructor(private readonly readModels: ReadModelStore) {}

  private get users() {
    return this.readModels.collection<UserDocument>(USERS);
  }

  async page(organizationId: string, filter: Filter, sort: SortSpec, skip: number, limit: number, tenantId: number): Promise<CompatUser[]> {
    const { items } = await this.users.findPage(filter, { sort, skip, limit });
    return this.map(organizationId, items, tenantId);
  }

  async all(organizationId: string, filter: Filter, tenantId: number): Promise<CompatUser[]> {
    return this.map(organizationId, await this.users.find(filter, { sort: { 'spec.subject': 1, _id: 1 } }), tenantId);
  }

  count(filter: Filter): Promise<number> {
    return this.users.count(filter);
  }

  /** A user of the organization; another organization's is not found. */
  async get(organizationId: string, userId: string, tenantId: number): Promise<CompatUser | undefined> {
    const doc = await this.users.findById(userId);
    if (!doc || doc.metadata.organizationId !== organizationId) return undefined;
    return (await this.map(organizationId, [doc], tenantId))[0];
  }

  private async map(organizationId: string, docs: readonly UserDocument[], tenantId: number): Promise<CompatUser[]> {
    const groups = await groupsById(this.readModels, organizationId, docs.flatMap((doc) => doc.spec.groupIDs));
    return docs.map((doc) => toCompatUser(doc, tenantId, groups));
  }
}

/** A user's resource name (a Kubernetes label value) from its email: the local part, cleaned. */
export function nameFromEmail(email: string): string {
  const local = (email.split('@')[0] ?? '').replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63);
  const trimmed = local.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
  return trimmed === '' ? 'user' : trimmed;
}
