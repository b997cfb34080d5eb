import type { ProjectCommands } from '../../commands/project/handlers.js';
import type { OrganizationQueries } from '../../projections/organizations/queries.js';
import { PROJECT_FIELDS, type ProjectQueries } from '../../projections/projects/queries.js';
import type { AccessControl } from '../auth/access-control.js';
import type { Caller } from '../auth/caller.js';
import { ForbiddenHttpError, NotFoundHttpError } from '../http/errors.js';
import { listQuerySchema, listReply } from '../http/list-query.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';
import type { WriteContext } from '../write-context.js';
import { projectPathSchema, projectReadSchema, projectsSchema, type ProjectWrite, projectWriteSchema } from './schemas.js';

const TAGS = ['projects'];

const toDetails = ({ metadata, spec }: ProjectWrite) => ({
  name: metadata.name,
  description: metadata.description,
  tags: metadata.tags ?? [],
  groupIDs: spec.groupIDs,
});

/** For routes that check access themselves: nobody sees into another organization. */
export const requireSameOrganization = (caller: Caller, organizationId: string): void => {
  if (!caller.platformAdministrator && caller.organizationId !== organizationId) {
    throw new ForbiddenHttpError('the caller may not act in this organization');
  }
};

export function projectRoutes(deps: {
  commands: ProjectCommands;
  queries: ProjectQueries;
  organizations: OrganizationQueries;
  writes: WriteContext;
  access: AccessControl;
}) {
  const { commands, queries, organizations, writes, access } = deps;

  const readProject = async (organizationId: string, projectId: string) => {
    const project = await queries.get(organizationId, projectId);
    if (!project) throw new NotFoundHttpError(`project ${projectId} not found`);
    return project;
  };

  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/projects',
      timeTravel: true,
      summary: 'List the projects of an organization the caller may read.',
      tags: TAGS,
      // Project-scoped grants count here, so the check is a filter rather than a gate.
      access: 'authenticated',
      request: { params: organizationPathSchema, query: listQuerySchema },
      responses: { 200: { description: 'A list of projects.', schema: projectsSchema } },
      filterable: PROJECT_FIELDS,
      handler: async ({ params, query, caller }) => {
        requireSameOrganization(caller, params.organizationID);
        if (!(await organizations.get(params.organizationID))) throw new NotFoundHttpError(`organization ${params.organizationID} not found`);
        const scope = await access.projectsAllowing(caller, params.organizationID, 'identity:projects', 'read');
        return listReply(await queries.list(params.organizationID, query, scope));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/projects',
      summary: 'Create a project.',
      tags: TAGS,
      access: { family: 'identity:projects', operation: 'create' },
      request: { params: organizationPathSchema, body: projectWriteSchema },
      responses: { 202: { description: 'A project.', schema: projectReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const result = await commands.create(params.organizationID, toDetails(body), writes.meta(caller, requestId));
        await writes.settle(result.position);
        if (result.state.status !== 'active') throw new Error('project was not created');
        return { status: 202, body: await readProject(params.organizationID, result.state.id) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/projects/{projectID}',
      timeTravel: true,
      history: { kind: 'project', idParam: 'projectID' },
      summary: 'Get a project.',
      tags: TAGS,
      access: { family: 'identity:projects', operation: 'read' },
      request: { params: projectPathSchema },
      responses: { 200: { description: 'A project.', schema: projectReadSchema } },
      handler: async ({ params }) => ({ status: 200, body: await readProject(params.organizationID, params.projectID) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/organizations/{organizationID}/projects/{projectID}',
      summary: 'Update a project.',
      tags: TAGS,
      access: { family: 'identity:projects', operation: 'update' },
      request: { params: projectPathSchema, body: projectWriteSchema },
      responses: { 200: { description: 'Project successfully updated.', schema: projectReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const result = await commands.update(params.organizationID, params.projectID, toDetails(body), writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200, body: await readProject(params.organizationID, params.projectID) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/organizations/{organizationID}/projects/{projectID}',
      summary: 'Delete a project and its allocations (asynchronously).',
      tags: TAGS,
      access: { family: 'identity:projects', operation: 'delete' },
      request: { params: projectPathSchema },
      responses: { 202: { description: 'The project is being removed.' } },
      handler: async ({ params, caller, requestId }) => {
        const result = await commands.requestDeletion(params.organizationID, params.projectID, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 202 };
      },
    }),
  ];
}
