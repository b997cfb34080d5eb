import type { GroupCommands } from '../../commands/group/handlers.js';
import { GROUP_FIELDS, type GroupQueries } from '../../projections/groups/queries.js';
import type { AccessControl } from '../auth/access-control.js';
import { NotFoundHttpError } from '../http/errors.js';
import { listQuerySchema, listReply } from '../http/list-query.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';
import type { WriteContext } from '../write-context.js';
import { groupPathSchema, groupReadSchema, groupsSchema, type GroupWrite, groupWriteSchema } from './schemas.js';

const TAGS = ['groups'];

const toDetails = ({ metadata, spec }: GroupWrite) => ({
  name: metadata.name,
  description: metadata.description,
  tags: metadata.tags ?? [],
  roleIDs: spec.roleIDs,
  userIDs: spec.userIDs,
  serviceAccountIDs: spec.serviceAccountIDs,
});

export function groupRoutes(deps: { commands: GroupCommands; queries: GroupQueries; writes: WriteContext; access: AccessControl }) {
  const { commands, queries, writes, access } = deps;

  const readGroup = async (organizationId: string, groupId: string) => {
    const group = await queries.get(organizationId, groupId);
    if (!group) throw new NotFoundHttpError(`group ${groupId} not found`);
    return group;
  };

  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/groups',
      timeTravel: true,
      summary: 'List the groups of an organization.',
      tags: TAGS,
      access: { family: 'identity:groups', operation: 'read' },
      request: { params: organizationPathSchema, query: listQuerySchema },
      responses: { 200: { description: 'A list of groups for the organization.', schema: groupsSchema } },
      filterable: GROUP_FIELDS,
      handler: async ({ params, query }) => listReply(await queries.list(params.organizationID, query)),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/groups',
      summary: 'Create a group.',
      tags: TAGS,
      access: { family: 'identity:groups', operation: 'create' },
      request: { params: organizationPathSchema, body: groupWriteSchema },
      responses: { 201: { description: 'A group in the organization.', schema: groupReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        // Members of a group hold its roles: only roles the caller could hold may be given.
        await access.assertCanGrant(caller, params.organizationID, body.spec.roleIDs);
        const result = await commands.create(params.organizationID, toDetails(body), writes.meta(caller, requestId));
        await writes.settle(result.position);
        if (result.state.status !== 'active') throw new Error('group was not created');
        return { status: 201, body: await readGroup(params.organizationID, result.state.id) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/groups/{groupid}',
      timeTravel: true,
      history: { kind: 'group', idParam: 'groupid' },
      summary: 'Get a group.',
      tags: TAGS,
      access: { family: 'identity:groups', operation: 'read' },
      request: { params: groupPathSchema },
      responses: { 200: { description: 'A group in the organization.', schema: groupReadSchema } },
      handler: async ({ params }) => ({ status: 200, body: await readGroup(params.organizationID, params.groupid) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/organizations/{organizationID}/groups/{groupid}',
      summary: 'Update a group: its roles and its members.',
      tags: TAGS,
      access: { family: 'identity:groups', operation: 'update' },
      request: { params: groupPathSchema, body: groupWriteSchema },
      responses: { 200: { description: 'Group successfully updated: the group as it is now.', schema: groupReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        // Checked on every update, since new members gain the group's roles too.
        await access.assertCanGrant(caller, params.organizationID, body.spec.roleIDs);
        const result = await commands.update(params.organizationID, params.groupid, toDetails(body), writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200, body: await readGroup(params.organizationID, params.groupid) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/organizations/{organizationID}/groups/{groupid}',
      summary: 'Delete a group.',
      tags: TAGS,
      access: { family: 'identity:groups', operation: 'delete' },
      request: { params: groupPathSchema },
      responses: { 200: { description: 'Group successfully deleted.' } },
      handler: async ({ params, caller, requestId }) => {
        const result = await commands.delete(params.organizationID, params.groupid, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200 };
      },
    }),
  ];
}
