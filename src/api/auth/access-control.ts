import {
  type EndpointFamily,
  type Operation,
  PermissionSet,
  type Permission,
  PLATFORM_ADMINISTRATOR_ROLE,
  roleById,
} from '../../domain/rbac/roles.js';
import type { Document, ReadModelStore } from '../../ports/read-models.js';
import { ForbiddenHttpError, InvalidRequestError } from '../http/errors.js';
import type { Caller } from './caller.js';

/**
 * The read models access control reads. Their projections own them; these are
 * the fields relied on here:
 * - groups:       metadata.organizationId, spec.roleIDs, spec.userIDs, spec.serviceAccountIDs
 * - projects:     metadata.organizationId, spec.groupIDs
 * - applications: metadata.organizationId, spec.groupIDs (an application's own groups)
 */
export const GROUPS_COLLECTION = 'groups';
export const PROJECTS_COLLECTION = 'projects';
export const APPLICATIONS_COLLECTION = 'applications';

interface GroupDoc extends Document {
  metadata: { id: string; organizationId: string };
  spec: { roleIDs: string[]; userIDs?: string[]; serviceAccountIDs?: string[] };
}
interface ProjectDoc extends Document {
  metadata: { id: string; organizationId: string };
  spec: { groupIDs: string[] };
}
interface ApplicationDoc extends Document {
  metadata: { id: string; organizationId: string };
  spec: { groupIDs?: string[] };
}

export interface Target {
  readonly organizationId?: string;
  readonly projectId?: string;
}

export interface Acl {
  global: Permission[];
  organization?: { id: string; endpoints: Permission[] };
  projects?: Array<{ id: string; endpoints: Permission[] }>;
}

/** What a caller holds in one organization. */
interface Grants {
  /** Global and organization scopes: valid everywhere in the organization. */
  readonly everywhere: PermissionSet;
  readonly global: PermissionSet;
  /** Project scopes, per project that lists one of the caller's groups. */
  readonly projects: ReadonlyMap<string, PermissionSet>;
}

/** A 403 for want of a permission: says which, so that the denial's record can (access.denied). */
export class MissingPermissionError extends ForbiddenHttpError {
  constructor(
    readonly family: EndpointFamily,
    readonly operation: Operation,
  ) {
    super(`${operation} on ${family} is not allowed here`);
  }
}

const NO_GRANTS: Grants = { everywhere: new PermissionSet(), global: new PermissionSet(), projects: new Map() };

/**
 * Decides what a caller may do. Platform administrators may do everything;
 * everyone else gets the roles of the groups they belong to in their own
 * organization, and nothing at all in any other.
 */
export class AccessControl {
  constructor(private readonly readModels: ReadModelStore) {}

  private async groupIdsOf(caller: Caller, organizationId: string): Promise<GroupDoc[]> {
    const groups = this.readModels.collection<GroupDoc>(GROUPS_COLLECTION);
    const id = caller.principalId;
    if (!id) return [];
    switch (caller.kind) {
      case 'user':
        return groups.find({ 'metadata.organizationId': organizationId, 'spec.userIDs': id });
      case 'service_account':
        return groups.find({ 'metadata.organizationId': organizationId, 'spec.serviceAccountIDs': id });
      case 'application': {
        const app = await this.readModels.collection<ApplicationDoc>(APPLICATIONS_COLLECTION).findById(id);
        const groupIds = app?.metadata.organizationId === organizationId ? app.spec.groupIDs ?? [] : [];
        return groupIds.length === 0 ? [] : groups.find({ 'metadata.organizationId': organizationId, _id: { $in: groupIds } });
      }
      default:
        return [];
    }
  }

  /** Everything the caller holds in an organization it belongs to. */
  private async grantsIn(caller: Caller, organizationId: string): Promise<Grants> {
    if (caller.organizationId !== organizationId) return NO_GRANTS;
    const groups = await this.groupIdsOf(caller, organizationId);
    if (groups.length === 0) return NO_GRANTS;
    const global = new PermissionSet();
    const everywhere = new PermissionSet();
    const byGroup = new Map<string, PermissionSet>();
    for (const group of groups) {
      const set = new PermissionSet();
      for (const role of group.spec.roleIDs.map(roleById)) {
        if (!role || role.protected) continue;
        global.add(role.scopes.global);
        everywhere.add(role.scopes.global).add(role.scopes.organization);
        set.add(role.scopes.project);
      }
      if (!set.empty) byGroup.set(group.metadata.id, set);
    }
    const projects = new Map<string, PermissionSet>();
    if (byGroup.size > 0) {
      const listed = await this.readModels
        .collection<ProjectDoc>(PROJECTS_COLLECTION)
        .find({ 'metadata.organizationId': organizationId, 'spec.groupIDs': { $in: [...byGroup.keys()] } });
      for (const project of listed) {
        let set = new PermissionSet();
        for (const groupId of project.spec.groupIDs) {
          const granted = byGroup.get(groupId);
          if (granted) set = set.union(granted);
        }
        projects.set(project.metadata.id, set);
      }
    }
    return { everywhere, global, projects };
  }

  /** May the caller do this? Answers 403 when not; never reveals whether a foreign resource exists. */
  async require(caller: Caller, target: Target, family: EndpointFamily, operation: Operation): Promise<void> {
    if (!(await this.allows(caller, target, family, operation))) throw new MissingPermissionError(family, operation);
  }

  async allows(caller: Caller, target: Target, family: EndpointFamily, operation: Operation): Promise<boolean> {
    if (caller.platformAdministrator) return true;
    if (!target.organizationId) return false; // only platform administrators act outside an organization
    const grants = await this.grantsIn(caller, target.organizationId);
    if (grants.everywhere.allows(family, operation)) return true;
    if (target.projectId) return grants.projects.get(target.projectId)?.allows(family, operation) ?? false;
    return false;
  }

  /**
   * For lists of project-scoped resources: 'all' when the caller holds the
   * permission organization-wide, else the projects where it holds it.
   */
  async projectsAllowing(caller: Caller, organizationId: string, family: EndpointFamily, operation: Operation): Promise<'all' | string[]> {
    if (caller.platformAdministrator) return 'all';
    const grants = await this.grantsIn(caller, organizationId);
    if (grants.everywhere.allows(family, operation)) return 'all';
    return [...grants.projects].filter(([, set]) => set.allows(family, operation)).map(([id]) => id);
  }

  /** The seed's acl: what the caller may do globally, in the organization, and in each project it reaches. */
  async acl(caller: Caller, organizationId?: string): Promise<Acl> {
    if (caller.platformAdministrator) {
      const everything = PermissionSet.of(PLATFORM_ADMINISTRATOR_ROLE.scopes.global).toEndpoints();
      return { global: everything, ...(organizationId && { organization: { id: organizationId, endpoints: everything } }) };
    }
    const orgId = organizationId ?? caller.organizationId;
    if (!orgId) return { global: [] };
    const grants = await this.grantsIn(caller, orgId);
    return {
      global: grants.global.toEndpoints(),
      organization: { id: orgId, endpoints: grants.everywhere.toEndpoints() },
      projects: [...grants.projects].map(([id, set]) => ({ id, endpoints: set.toEndpoints() })),
    };
  }

  /**
   * Nobody may grant a role holding permissions they do not hold themselves,
   * and the protected platform-administrator role is never granted.
   */
  async assertCanGrant(caller: Caller, organizationId: string, roleIds: readonly string[]): Promise<void> {
    const roles = roleIds.map((id) => {
      const role = roleById(id);
      if (!role) throw new InvalidRequestError(`unknown role ${id}`);
      if (role.protected) throw new ForbiddenHttpError(`role ${id} cannot be granted`);
      return role;
    });
    if (caller.platformAdministrator) return;
    const grants = await this.grantsIn(caller, organizationId);
    let anyProject = new PermissionSet();
    for (const set of grants.projects.values()) anyProject = anyProject.union(set);
    for (const role of roles) {
      const holds =
        grants.global.includesAll(role.scopes.global) &&
        grants.everywhere.includesAll(role.scopes.organization) &&
        grants.everywhere.union(anyProject).includesAll(role.scopes.project);
      if (!holds) throw new ForbiddenHttpError(`cannot grant role ${role.id}: it holds permissions the caller does not`);
    }
  }
}
