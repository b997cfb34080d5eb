/**
 * Roles and permissions. A role grants, per scope (global, organization,
 * project), a list of endpoint families with the operations allowed on them.
 * The built-in roles live in code: they are the same on every installation.
 */
export const OPERATIONS = ['create', 'read', 'update', 'delete'] as const;
export type Operation = (typeof OPERATIONS)[number];

export const ENDPOINT_FAMILIES = [
  'identity:organizations',
  'identity:groups',
  'identity:users',
  'identity:projects',
  'identity:serviceaccounts',
  'identity:roles',
  'identity:quotas',
  'identity:allocations',
  'identity:oauth2providers',
  'identity:applications',
  /** The audit log, every resource's history and its past states (asOf), and their export (issue 11). */
  'identity:audit',
] as const;
export type EndpointFamily = (typeof ENDPOINT_FAMILIES)[number];

export interface Permission {
  readonly name: EndpointFamily;
  readonly operations: readonly Operation[];
}

export type Scope = 'global' | 'organization' | 'project';

export interface RoleDefinition {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** Never grantable through the API, and not listed. */
  readonly protected: boolean;
  readonly scopes: Readonly<Record<Scope, readonly Permission[]>>;
}

const all = (name: EndpointFamily): Permission => ({ name, operations: OPERATIONS });
const only = (name: EndpointFamily, ...operations: Operation[]): Permission => ({ name, operations });

export const PLATFORM_ADMINISTRATOR_ROLE: RoleDefinition = {
  id: 'platform-administrator',
  name: 'platform-administrator',
  description: 'Everything, everywhere. Configured for the platform operators; never granted through the API.',
  protected: true,
  scopes: { global: ENDPOINT_FAMILIES.map(all), organization: [], project: [] },
};

/**
 * The roles of the compatible users/groups APIs (seeds 000 and 003,
 * docs/compat.md): built-in roles like the others, granted through groups.
 */
const viewerReads = (): Permission[] =>
  ENDPOINT_FAMILIES.filter((f) => f !== 'identity:oauth2providers' && f !== 'identity:audit').map((f) => only(f, 'read'));

export const COMPAT_ROLE_IDS = ['admin', 'department_admin', 'researcher', 'editor', 'viewer', 'research_manager', 'ml_engineer'] as const;
export type CompatRoleId = (typeof COMPAT_ROLE_IDS)[number];

export const COMPAT_ROLES: readonly RoleDefinition[] = [
  {
    id: 'admin',
    name: 'admin',
    description: 'The tenant administrator of the compatible APIs: the same permissions as administrator.',
    protected: false,
    scopes: {
      global: [],
      organization: [
        only('identity:organizations', 'read', 'update'),
        all('identity:groups'),
        all('identity:users'),
        all('identity:projects'),
        all('identity:serviceaccounts'),
        only('identity:roles', 'read'),
        only('identity:quotas', 'read', 'update'),
        all('identity:allocations'),
        all('identity:oauth2providers'),
        all('identity:applications'),
        only('identity:audit', 'read'),
      ],
      project: [],
    },
  },
  {
    id: 'department_admin',
    name: 'department_admin',
    description: 'Manages people and work in the organization: users, groups, projects and allocations; reads the rest (no identity providers, applications or audit).',
    protected: false,
    scopes: {
      global: [],
      organization: [
        only('identity:organizations', 'read'),
        all('identity:groups'),
        all('identity:users'),
        all('identity:projects'),
        all('identity:allocations'),
        only('identity:serviceaccounts', 'read'),
        only('identity:roles', 'read'),
        only('identity:quotas', 'read'),
        only('identity:applications', 'read'),
      ],
      project: [],
    },
  },
  {
    id: 'editor',
    name: 'editor',
    description: 'Reads everything a viewer reads, and creates and changes projects and allocations (deletes none, manages no people).',
    protected: false,
    scopes: {
      global: [],
      organization: [
        ...viewerReads().filter((p) => p.name !== 'identity:projects' && p.name !== 'identity:allocations'),
        only('identity:projects', 'create', 'read', 'update'),
        only('identity:allocations', 'create', 'read', 'update'),
      ],
      project: [],
    },
  },
  {
    id: 'viewer',
    name: 'viewer',
    description: 'Reads everything in the organization except identity providers and the audit log; changes nothing (as reader).',
    protected: false,
    scopes: { global: [], organization: viewerReads(), project: [] },
  },
  {
    id: 'research_manager',
    name: 'research_manager',
    description: 'Runs the research: reads the organization and its people, creates and changes projects, manages allocations.',
    protected: false,
    scopes: {
      global: [],
      organization: [
        only('identity:organizations', 'read'),
        only('identity:groups', 'read'),
        only('identity:users', 'read'),
        only('identity:roles', 'read'),
        only('identity:quotas', 'read'),
        only('identity:projects', 'create', 'read', 'update'),
        all('identity:allocations'),
      ],
      project: [],
    },
  },
  {
    id: 'researcher',
    name: 'researcher',
    description: 'Works in the projects of its groups (as user): reads the organization and its people, manages allocations in its projects.',
    protected: false,
    scopes: {
      global: [],
      organization: [
        only('identity:organizations', 'read'),
        only('identity:groups', 'read'),
        only('identity:users', 'read'),
        only('identity:roles', 'read'),
        only('identity:quotas', 'read'),
      ],
      project: [only('identity:projects', 'read'), all('identity:allocations')],
    },
  },
  {
    id: 'ml_engineer',
    name: 'ml_engineer',
    description: 'Deploys into the projects of its groups: reads the organization, reads its projects and reads and changes their allocations.',
    protected: false,
    scopes: {
      global: [],
      organization: [only('identity:organizations', 'read'), only('identity:roles', 'read'), only('identity:quotas', 'read')],
      project: [only('identity:projects', 'read'), only('identity:allocations', 'read', 'update')],
    },
  },
];

export const BUILT_IN_ROLES: readonly RoleDefinition[] = [
  PLATFORM_ADMINISTRATOR_ROLE,
  {
    id: 'administrator',
    name: 'administrator',
    description: 'Manages the organization: its members, groups, projects, service accounts, quotas and identity providers.',
    protected: false,
    scopes: {
      global: [],
      organization: [
        only('identity:organizations', 'read', 'update'),
        all('identity:groups'),
        all('identity:users'),
        all('identity:projects'),
        all('identity:serviceaccounts'),
        only('identity:roles', 'read'),
        only('identity:quotas', 'read', 'update'),
        all('identity:allocations'),
        all('identity:oauth2providers'),
        all('identity:applications'),
        only('identity:audit', 'read'),
      ],
      project: [],
    },
  },
  {
    id: 'user',
    name: 'user',
    description: 'Works in the projects of its groups: reads the organization, manages allocations in its projects.',
    protected: false,
    scopes: {
      global: [],
      organization: [
        only('identity:organizations', 'read'),
        only('identity:groups', 'read'),
        only('identity:users', 'read'),
        only('identity:roles', 'read'),
        only('identity:quotas', 'read'),
      ],
      project: [only('identity:projects', 'read'), all('identity:allocations')],
    },
  },
  {
    id: 'reader',
    name: 'reader',
    description: 'Reads everything in the organization, changes nothing.',
    protected: false,
    scopes: {
      global: [],
      organization: ENDPOINT_FAMILIES.filter((f) => f !== 'identity:oauth2providers' && f !== 'identity:audit').map((f) => only(f, 'read')),
      project: [],
    },
  },
  {
    id: 'auditor',
    name: 'auditor',
    description:
      "Audits the organization: reads its audit log, every resource's history and past states, and everything else, read-only (never a secret: no read answers one).",
    protected: false,
    scopes: {
      global: [],
      organization: ENDPOINT_FAMILIES.map((f) => only(f, 'read')),
      project: [],
    },
  },
  // The roles of the compatible APIs (docs/compat.md).
  ...COMPAT_ROLES,
];

export const roleById = (id: string): RoleDefinition | undefined => BUILT_IN_ROLES.find((role) => role.id === id);

/** A set of (family, operation) pairs, for union and subset checks. */
export class PermissionSet {
  private readonly pairs = new Set<string>();

  static of(...lists: ReadonlyArray<readonly Permission[]>): PermissionSet {
    const set = new PermissionSet();
    for (const list of lists) set.add(list);
    return set;
  }

  add(permissions: readonly Permission[]): this {
    for (const p of permissions) for (const op of p.operations) this.pairs.add(`${p.name} ${op}`);
    return this;
  }

  union(other: PermissionSet): PermissionSet {
    const set = new PermissionSet();
    for (const pair of [...this.pairs, ...other.pairs]) set.pairs.add(pair);
    return set;
  }

  allows(family: EndpointFamily, operation: Operation): boolean {
    return this.pairs.has(`${family} ${operation}`);
  }

  includesAll(permissions: readonly Permission[]): boolean {
    return permissions.every((p) => p.operations.every((op) => this.allows(p.name, op)));
  }

  get empty(): boolean {
    return this.pairs.size === 0;
  }

  /** As the seed's aclEndpoint list: one entry per family, operations in a fixed order. */
  toEndpoints(): Permission[] {
    return ENDPOINT_FAMILIES.flatMap((name) => {
      const operations = OPERATIONS.filter((op) => this.allows(name, op));
      return operations.length > 0 ? [{ name, operations }] : [];
    });
  }
}
