import { z } from 'zod';
import { BUILT_IN_ROLES } from '../../domain/rbac/roles.js';
import { MemoryReadModelStore } from '../../infra/memory/memory-read-models.js';
import type { Document } from '../../ports/read-models.js';
import { type ListFields, listPage, listQuerySchema, listReply, METADATA_FIELDS } from '../http/list-query.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema, resourceReadMetadataSchema } from '../organizations/schemas.js';

export const roleReadSchema = z
  .object({
    // The seed's full resourceReadMetadata: a built-in role is provisioned and healthy from the start.
    metadata: resourceReadMetadataSchema,
  })
  .meta({ id: 'roleRead' });

// Built-in roles exist from the start of time, as far as clients can tell.
const EPOCH = new Date(0).toISOString();

/** The roles an organization may grant: every built-in role but the protected one. */
export const grantableRoles = () =>
  BUILT_IN_ROLES.filter((role) => !role.protected).map((role) => ({
    metadata: {
      id: role.id,
      name: role.name,
      description: role.description,
      creationTime: EPOCH,
      provisioningStatus: 'provisioned' as const,
      healthStatus: 'healthy' as const,
    },
  }));

const ROLE_FIELDS: ListFields = {
  id: METADATA_FIELDS.id!,
  name: METADATA_FIELDS.name!,
  description: METADATA_FIELDS.description!,
};

/** Roles are static, but their list answers the same list query as every other list. */
async function roleCatalogue() {
  const store = new MemoryReadModelStore();
  const roles = store.collection<Document & ReturnType<typeof grantableRoles>[number]>('roles');
  for (const role of grantableRoles()) await roles.put({ _id: role.metadata.id, ...role });
  return roles;
}

export async function roleRoutes() {
  const roles = await roleCatalogue();
  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/roles',
      // Built into the code, the same at every moment; taking asOf keeps every organization-scoped list alike.
      timeTravel: true,
      summary: 'The roles that may be granted in the organization.',
      tags: ['roles'],
      access: { family: 'identity:roles', operation: 'read' },
      request: { params: organizationPathSchema, query: listQuerySchema },
      responses: { 200: { description: 'A list of roles.', schema: z.array(roleReadSchema) } },
      filterable: ROLE_FIELDS,
      handler: async ({ query }) => listReply(await listPage(roles, query, ROLE_FIELDS, {}, ({ _id, _position, ...role }) => role)),
    }),
  ];
}
