import type { OrganizationCommands } from '../../commands/organization/handlers.js';
import { ORGANIZATION_FIELDS, type OrganizationQueries } from '../../projections/organizations/queries.js';
import { ForbiddenHttpError, NotFoundHttpError } from '../http/errors.js';
import { listReply } from '../http/list-query.js';
import { defineRoute } from '../http/route.js';
import type { WriteContext } from '../write-context.js';
import {
  organizationListQuerySchema,
  organizationPathSchema,
  organizationReadSchema,
  organizationsSchema,
  organizationWriteSchema,
  type OrganizationWrite,
} from './schemas.js';

const TAGS = ['organizations'];

const toDetails = ({ metadata, spec }: OrganizationWrite) => ({
  name: metadata.name,
  description: metadata.description,
  tags: metadata.tags ?? [],
  spec,
});

export function organizationRoutes(deps: { commands: OrganizationCommands; queries: OrganizationQueries; writes: WriteContext }) {
  const { commands, queries, writes } = deps;

  const readAfterWrite = async (organizationId: string) => {
    const organization = await queries.get(organizationId);
    if (!organization) throw new NotFoundHttpError(`organization ${organizationId} not found`);
    return organization;
  };

  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations',
      summary: 'Create an organization.',
      tags: TAGS,
      access: { family: 'identity:organizations', operation: 'create' },
      request: { body: organizationWriteSchema },
      responses: { 202: { description: 'The organization is being provisioned.', schema: organizationReadSchema } },
      handler: async ({ body, caller, requestId }) => {
        const result = await commands.create(toDetails(body), writes.meta(caller, requestId));
        await writes.settle(result.position);
        if (result.state.status === 'absent' || result.state.status === 'deleted') throw new Error('organization was not created');
        return { status: 202, body: await readAfterWrite(result.state.id) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations',
      summary: 'List the organizations the caller is a member of; platform administrators may ask for those of a user, by email.',
      tags: TAGS,
      access: 'authenticated',
      request: { query: organizationListQuerySchema },
      responses: { 200: { description: 'A list of organizations.', schema: organizationsSchema } },
      filterable: ORGANIZATION_FIELDS,
      handler: async ({ query, caller }) => {
        if (query.email !== undefined && !caller.platformAdministrator) {
          throw new ForbiddenHttpError('only platform administrators may look up the organizations of another user');
        }
        const { email, ...list } = query;
        const scope = caller.platformAdministrator ? 'all' : caller.organizationId ? [caller.organizationId] : [];
        return listReply(await queries.list(list, scope, email));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}',
      timeTravel: true,
      history: { kind: 'organization', idParam: 'organizationID' },
      summary: 'Get an organization.',
      tags: TAGS,
      access: { family: 'identity:organizations', operation: 'read' },
      request: { params: organizationPathSchema },
      responses: { 200: { description: 'An organization.', schema: organizationReadSchema } },
      handler: async ({ params }) => ({ status: 200, body: await readAfterWrite(params.organizationID) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/organizations/{organizationID}',
      summary: 'Update an organization.',
      tags: TAGS,
      access: { family: 'identity:organizations', operation: 'update' },
      request: { params: organizationPathSchema, body: organizationWriteSchema },
      responses: { 200: { description: 'The updated organization.', schema: organizationReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const result = await commands.update(params.organizationID, toDetails(body), writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200, body: await readAfterWrite(params.organizationID) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/organizations/{organizationID}',
      summary: 'Delete an organization and everything in it (asynchronously).',
      tags: TAGS,
      access: { family: 'identity:organizations', operation: 'delete' },
      request: { params: organizationPathSchema },
      responses: { 202: { description: 'The organization is being removed.' } },
      handler: async ({ params, caller, requestId }) => {
        const result = await commands.requestDeletion(params.organizationID, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 202 };
      },
    }),
  ];
}
