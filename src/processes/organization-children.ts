import type { Document, ReadModelStore } from '../ports/read-models.js';
import { APPLICATIONS } from '../projections/applications/projection.js';
import { GROUPS } from '../projections/groups/projection.js';
import { IDENTITY_PROVIDERS } from '../projections/identity-providers/projection.js';
import { PROJECTS } from '../projections/projects/projection.js';
import { SERVICE_ACCOUNTS } from '../projections/service-accounts/projection.js';
import { USERS } from '../projections/users/projection.js';

/** The ids of an organization's children, by kind. Allocations go with their projects, quotas with the ledger. */
export interface Children {
  readonly projects: string[];
  readonly groups: string[];
  readonly users: string[];
  readonly serviceAccounts: string[];
  readonly applications: string[];
  readonly identityProviders: string[];
}

const COLLECTIONS: Record<keyof Children, string> = {
  projects: PROJECTS,
  groups: GROUPS,
  users: USERS,
  serviceAccounts: SERVICE_ACCOUNTS,
  applications: APPLICATIONS,
  identityProviders: IDENTITY_PROVIDERS,
};

export const countChildren = (children: Children): number => Object.values(children).reduce((sum, ids) => sum + ids.length, 0);

/**
 * Finds an organization's children in the read models (a stream per child
 * cannot be searched). Only as fresh as the read models: callers wait for
 * them to catch up first (ReadModelSync).
 */
export class OrganizationChildren {
  constructor(private readonly readModels: ReadModelStore) {}

  async of(organizationId: string): Promise<Children> {
    const ids = async (collection: string) =>
      (await this.readModels.collection<Document>(collection).find({ 'metadata.organizationId': organizationId })).map((doc) => doc._id);
    const entries = await Promise.all(Object.entries(COLLECTIONS).map(async ([kind, collection]) => [kind, await ids(collection)] as const));
    return Object.fromEntries(entries) as unknown as Children;
  }
}
