import type { GroupCommands } from '../../../commands/group/handlers.js';
import { COMPAT_ROLE_IDS, type CompatRoleId } from '../../../domain/rbac/roles.js';
import { ConflictError } from '../../../domain/shared/errors.js';
import type { ReadModelStore } from '../../../ports/read-models.js';
import { GROUPS, type GroupDocument } from '../../../projections/groups/projection.js';
import type { Caller } from '../../auth/caller.js';
import type { WriteContext } from '../../write-context.js';

/**
 * The compatible APIs grant a role to a user or an application by putting it
 * in one group per role, `runai-role-<role>`, bound to that role and made the
 * first time it is needed.
 */
export const ROLE_GROUP_PREFIX = 'runai-role-';
export const roleGroupName = (role: CompatRoleId) => `${ROLE_GROUP_PREFIX}${role}`;

/** The roles that make a user an administrator in the APIs with an `is_admin` flag (seeds 001 and 002). */
export const ADMIN_ROLES: ReadonlySet<string> = new Set(['admin', 'administrator']);

export const isCompatRole = (id: string): id is CompatRoleId => (COMPAT_ROLE_IDS as readonly string[]).includes(id);

export class RoleGroups {
  constructor(
    private readonly groups: GroupCommands,
    private readonly readModels: ReadModelStore,
    private readonly writes: WriteContext,
  ) {}

  private get docs() {
    return this.readModels.collection<GroupDocument>(GROUPS);
  }

  /** The group of each role, created (bound to the role) the first time one is needed. */
  async of(organizationId: string, roles: readonly CompatRoleId[], caller: Caller, requestId: string): Promise<Map<CompatRoleId, string>> {
    const found = new Map<CompatRoleId, string>();
    for (const role of new Set(roles)) {
      const name = roleGroupName(role);
      const existing = await this.docs.findOne({ 'metadata.organizationId': organizationId, 'metadata.name': name });
      if (existing) {
        found.set(role, existing.metadata.id);
        continue;
      }
      try {
        const result = await this.groups.create(
          organizationId,
          { name, description: `Members hold the ${role} role (the compatible APIs).`, tags: [], roleIDs: [role], userIDs: [], serviceAccountIDs: [] },
          this.writes.meta(caller, requestId),
        );
        await this.writes.settle(result.position);
        if (result.state.status === 'active') found.set(role, result.state.id);
      } catch (error) {
        // Another request made it first.
        if (!(error instanceof ConflictError)) throw error;
        const made = await this.docs.findOne({ 'metadata.organizationId': organizationId, 'metadata.name': name });
        if (!made) throw error;
        found.set(role, made.metadata.id);
      }
    }
    return found;
  }

  /** All role groups of the organization (to take a member out of those it no longer holds). */
  async all(organizationId: string): Promise<Map<string, CompatRoleId>> {
    const docs = await this.docs.find({ 'metadata.organizationId': organizationId, 'metadata.name': { $in: COMPAT_ROLE_IDS.map(roleGroupName) } });
    return new Map(docs.map((doc) => [doc.metadata.id, doc.metadata.name.slice(ROLE_GROUP_PREFIX.length) as CompatRoleId]));
  }

  /**
   * A member's groups with an `is_admin` flag applied: the admin role group
   * joined (after `assertCanGrant`, since it grants admin), or every admin
   * role group left; the other groups kept.
   */
  async withAdmin(organizationId: string, isAdmin: boolean, current: readonly string[], caller: Caller, requestId: string, assertCanGrant: () => Promise<void>): Promise<string[]> {
    if (isAdmin) {
      await assertCanGrant();
      const [groupId] = (await this.of(organizationId, ['admin'], caller, requestId)).values();
      return current.includes(groupId!) ? [...current] : [...current, groupId!];
    }
    const adminGroups = [...(await this.all(organizationId))].filter(([, role]) => role === 'admin').map(([id]) => id);
    return current.filter((id) => !adminGroups.includes(id));
  }
}
