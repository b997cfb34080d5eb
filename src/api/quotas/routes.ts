import type { ResourceLedgerCommands } from '../../commands/quota/handlers.js';
import type { OrganizationQueries } from '../../projections/organizations/queries.js';
import type { QuotaQueries } from '../../projections/quotas/queries.js';
import { NotFoundHttpError } from '../http/errors.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';
import type { WriteContext } from '../write-context.js';
import { quotasReadSchema, quotasWriteSchema } from './schemas.js';

const TAGS = ['quotas'];

export function quotaRoutes(deps: { commands: ResourceLedgerCommands; queries: QuotaQueries; organizations: OrganizationQueries; writes: WriteContext }) {
  const { commands, queries, organizations, writes } = deps;

  const readQuotas = async (organizationId: string) => {
    if (!(await organizations.get(organizationId))) throw new NotFoundHttpError(`organization ${organizationId} not found`);
    return queries.get(organizationId);
  };

  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/quotas',
      timeTravel: true,
      history: { kind: 'quota', idParam: 'organizationID' },
      summary: 'Get the quotas of an organization, with what its allocations use.',
      tags: TAGS,
      access: { family: 'identity:quotas', operation: 'read' },
      request: { params: organizationPathSchema },
      responses: { 200: { description: 'Queries the quotas for an organizational unit.', schema: quotasReadSchema } },
      handler: async ({ params }) => ({ status: 200, body: await readQuotas(params.organizationID) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/organizations/{organizationID}/quotas',
      summary: 'Set quotas of an organization; kinds not listed keep theirs. A quota below current usage is refused (409).',
      tags: TAGS,
      access: { family: 'identity:quotas', operation: 'update' },
      request: { params: organizationPathSchema, body: quotasWriteSchema },
      responses: { 200: { description: 'Queries the quotas for an organizational unit.', schema: quotasReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const result = await commands.setQuotas(params.organizationID, body.quotas, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200, body: await readQuotas(params.organizationID) };
      },
    }),
  ];
}
