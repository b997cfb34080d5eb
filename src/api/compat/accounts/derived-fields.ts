import { ENDPOINT_FAMILIES, OPERATIONS, roleById } from '../../../domain/rbac/roles.js';
import { compilePredicate } from '../../../query/filter-predicate.js';
import type { Filter, ReadModelStore } from '../../../ports/read-models.js';
import { GROUPS, type GroupDocument } from '../../../projections/groups/projection.js';
import type { ListFields } from '../../../query/index.js';
import { ADMIN_ROLES } from '../runai/role-groups.js';

/**
 * The account fields that are not stored on a user but derived when an
 * account is shown (routes.ts `toAccounts`), made filterable:
 *
 * - `enabled`: the user's state is `active`.
 * - `is_admin`: the user is in a group of the organization holding an admin role.
 * - `effective_scopes`: the organization-wide permissions the user's groups'
 *   roles give (access-control.ts `acl`), as `{id: 'family:operation', name:
 *   'operation family'}`. A condition on its elements is tried on each of the
 *   fixed list of scopes (families × operations), and the account matches when
 *   one of its groups grants one of the scopes that pass.
 *
 * The filter expression compiles them onto placeholder paths like any stored
 * field (so types, operators and errors are the same); `resolveDerived` then
 * replaces each placeholder clause with a query on what is stored: the state
 * and the group ids. The organization's groups are read once per request.
 */
const PLACEHOLDER = '\u0000derived.';
const ENABLED = `${PLACEHOLDER}enabled`;
const IS_ADMIN = `${PLACEHOLDER}is_admin`;
const SCOPES = `${PLACEHOLDER}effective_scopes`;

export const DERIVED_ACCOUNT_FIELDS: ListFields = {
  enabled: { path: ENABLED, type: 'boolean', searchable: false },
  is_admin: { path: IS_ADMIN, type: 'boolean', searchable: false },
  effective_scopes: {
    path: SCOPES,
    type: 'objects',
    searchable: false,
    fields: { id: { path: 'id', type: 'string' }, name: { path: 'name', type: 'string' } },
  },
};

/** Matches no document. */
const NOTHING: Filter = { $nor: [{}] };

/** Every scope an account can show, as `toAccounts` writes them. */
const ALL_SCOPES = ENDPOINT_FAMILIES.flatMap((name) => OPERATIONS.map((op) => ({ id: `${name}:${op}`, name: `${op} ${name}`, family: name, op })));

/** The values of a boolean field that a compiled condition (`v`, `{$ne: v}`, `{$in: [...]}`) accepts; the field is never null. */
function acceptedBooleans(condition: unknown): boolean[] {
  const test = (value: boolean): boolean => {
    if (condition === null || typeof condition !== 'object') return condition === value;
    const ops = condition as Record<string, unknown>;
    if ('$ne' in ops) return ops.$ne !== value;
    if ('$in' in ops) return (ops.$in as unknown[]).includes(value);
    throw new Error(`unexpected condition on a derived boolean: ${JSON.stringify(condition)}`);
  };
  return [true, false].filter(test);
}

const eitherOf = (accepted: boolean[], whenTrue: Filter, whenFalse: Filter): Filter =>
  accepted.length === 2 ? {} : accepted.length === 0 ? NOTHING : accepted[0] ? whenTrue : whenFalse;

/** The organization's groups, read when a filter names a field that needs them. */
export interface GroupsOfOrganization {
  (): Promise<readonly GroupDocument[]>;
}

export const groupsReader = (readModels: ReadModelStore, organizationId: string): GroupsOfOrganization => {
  let groups: Promise<readonly GroupDocument[]> | undefined;
  return () => (groups ??= readModels.collection<GroupDocument>(GROUPS).find({ 'metadata.organizationId': organizationId }));
};

/** The ids of the groups whose roles give one of these scopes organization-wide (as access-control.ts counts them). */
function groupsGranting(groups: readonly GroupDocument[], scopes: ReadonlyArray<(typeof ALL_SCOPES)[number]>): string[] {
  if (scopes.length === 0) return [];
  return groups
    .filter((group) =>
      group.spec.roleIDs.some((roleId) => {
        const role = roleById(roleId);
        if (!role || role.protected) return false;
        const granted = [...role.scopes.global, ...role.scopes.organization];
        return scopes.some((scope) => granted.some((p) => p.name === scope.family && p.operations.includes(scope.op)));
      }),
    )
    .map((group) => group.metadata.id);
}

/** The compiled filter with every derived field's clause replaced by a query on stored fields. */
export async function resolveDerived(filter: Filter, groups: GroupsOfOrganization): Promise<Filter> {
  const out: Filter = {};
  const extra: Filter[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      out[key] = await Promise.all((value as Filter[]).map((operand) => resolveDerived(operand, groups)));
    } else if (key === ENABLED) {
      extra.push(eitherOf(acceptedBooleans(value), { 'spec.state': 'active' }, { 'spec.state': { $ne: 'active' } }));
    } else if (key === IS_ADMIN) {
      const admin = (await groups()).filter((group) => group.spec.roleIDs.some((role) => ADMIN_ROLES.has(role))).map((group) => group.metadata.id);
      extra.push(eitherOf(acceptedBooleans(value), { 'spec.groupIDs': { $in: admin } }, { 'spec.groupIDs': { $nin: admin } }));
    } else if (key === SCOPES) {
      // Compiled as {p: null} (EQ nil), {p: {$ne: null}} (NE nil) or {p: {$elemMatch: e}}: the list is never absent.
      if (value === null) extra.push(NOTHING);
      else if (typeof value === 'object' && '$ne' in value) extra.push({});
      else {
        const element = compilePredicate((value as { $elemMatch: Filter }).$elemMatch);
        const granting = groupsGranting(await groups(), ALL_SCOPES.filter((scope) => element({ id: scope.id, name: scope.name })));
        extra.push({ 'spec.groupIDs': { $in: granting } });
      }
    } else out[key] = value;
  }
  if (extra.length === 0) return out;
  return Object.keys(out).length === 0 && extra.length === 1 ? extra[0]! : { $and: [...(Object.keys(out).length > 0 ? [out] : []), ...extra] };
}
