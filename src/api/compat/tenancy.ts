import type { OrganizationCommands } from '../../commands/organization/handlers.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import type { OrganizationQueries } from '../../projections/organizations/queries.js';
import type { WriteContext } from '../write-context.js';

/**
 * The compatible APIs' `tenantId`: the organization's tenant number, from its
 * read model. An organization created before numbers existed draws its number
 * the first time one of these APIs needs it (once: the command is idempotent).
 */
export class CompatTenancy {
  constructor(
    private readonly organizations: Pick<OrganizationCommands, 'assignTenantNumber'>,
    private readonly queries: Pick<OrganizationQueries, 'get'>,
    private readonly writes: WriteContext,
  ) {}

  async tenantIdOf(organizationId: string, meta: CommandMetadata): Promise<number> {
    const organization = await this.queries.get(organizationId);
    const known = organization?.metadata.tenantId;
    if (known !== undefined) return known;
    const result = await this.organizations.assignTenantNumber(organizationId, meta);
    await this.writes.settle(result.position);
    const state = result.state;
    if (state.status !== 'active' && state.status !== 'deleting') throw new Error(`organization ${organizationId} has no tenant number`);
    return state.tenantId!;
  }
}
