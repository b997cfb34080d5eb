import type { ResourceLedgerCommands } from '../../commands/quota/handlers.js';
import { ALLOCATION_FIELDS, type AllocationQueries } from '../../projections/allocations/queries.js';
import type { OrganizationQueries } from '../../projections/organizations/queries.js';
import type { AccessControl } from '../auth/access-control.js';
import { NotFoundHttpError } from '../http/errors.js';
import { listQuerySchema, listReply } from '../http/list-query.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';
import { requireSameOrganization } from '../projects/routes.js';
import { projectPathSchema } from '../projects/schemas.js';
import type { WriteContext } from '../write-context.js';
import { allocationPathSchema, allocationReadSchema, allocationsSchema, type AllocationWrite, allocationWriteSchema } from './schemas.js';

const TAGS = ['allocations'];

const toDetails = ({ metadata, spec }: AllocationWrite) => ({
  name: metadata.name,
  description: metadata.description,
  tags: metadata.tags ?? [],
  spec,
});

export function allocationRoutes(deps: {
  commands: ResourceLedgerCommands;
  queries: AllocationQueries;
  organizations: OrganizationQueries;
  writes: WriteContext;
  access: AccessControl;
}) {
  const { commands, queries, organizations, writes, access } = deps;

  const readAllocation = async (organizationId: string, projectId: string, allocationId: string) => {
    const allocation = await queries.get(organizationId, projectId, allocationId);
    if (!allocation) throw new NotFoundHttpError(`allocation ${allocationId} not found`);
    return allocation;
  };

  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/allocations',
      timeTravel: true,
      summary: 'List the allocations of an organization, in the projects where the caller may read them.',
      tags: TAGS,
      // Project-scoped grants count here, so the check is a filter rather than a gate.
      access: 'authenticated',
      request: { params: organizationPathSchema, query: listQuerySchema },
      responses: { 200: { description: 'A list of allocations.', schema: allocationsSchema } },
      filterable: ALLOCATION_FIELDS,
      handler: async ({ params, query, caller }) => {
        requireSameOrganization(caller, params.organizationID);
        if (!(await organizations.get(params.organizationID))) throw new NotFoundHttpError(`organization ${params.organizationID} not found`);
        const scope = await access.projectsAllowing(caller, params.organizationID, 'identity:allocations', 'read');
        return listReply(await queries.list(params.organizationID, query, scope));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/projects/{projectID}/allocations',
      summary: 'Create an allocation; refused (409) when it would take the organization past a quota.',
      tags: TAGS,
      access: { family: 'identity:allocations', operation: 'create' },
      request: { params: projectPathSchema, body: allocationWriteSchema },
      responses: { 201: { description: 'An allocation.', schema: allocationReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const { organizationID, projectID } = params;
        const result = await commands.createAllocation(organizationID, projectID, toDetails(body), writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 201, body: await readAllocation(organizationID, projectID, result.allocationId) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/projects/{projectID}/allocations/{allocationID}',
      timeTravel: true,
      history: { kind: 'allocation', idParam: 'allocationID' },
      summary: 'Get an allocation.',
      tags: TAGS,
      access: { family: 'identity:allocations', operation: 'read' },
      request: { params: allocationPathSchema },
      responses: { 200: { description: 'An allocation.', schema: allocationReadSchema } },
      handler: async ({ params }) => ({
        status: 200,
        body: await readAllocation(params.organizationID, params.projectID, params.allocationID),
      }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/organizations/{organizationID}/projects/{projectID}/allocations/{allocationID}',
      summary: 'Update an allocation; refused (409) when it would take the organization past a quota.',
      tags: TAGS,
      access: { family: 'identity:allocations', operation: 'update' },
      request: { params: allocationPathSchema, body: allocationWriteSchema },
      responses: { 200: { description: 'An allocation.', schema: allocationReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const { organizationID, projectID, allocationID } = params;
        const result = await commands.updateAllocation(organizationID, projectID, allocationID, toDetails(body), writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200, body: await readAllocation(organizationID, projectID, allocationID) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/organizations/{organizationID}/projects/{projectID}/allocations/{allocationID}',
      summary: 'Delete an allocation, freeing its quota.',
      tags: TAGS,
      access: { family: 'identity:allocations', operation: 'delete' },
      request: { params: allocationPathSchema },
      responses: { 202: { description: 'Allocation successfully deleted.' } },
      handler: async ({ params, caller, requestId }) => {
        const { organizationID, projectID, allocationID } = params;
        const result = await commands.deleteAllocation(organizationID, projectID, allocationID, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 202 };
      },
    }),
  ];
}
