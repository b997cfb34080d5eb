import { z } from 'zod';
import { BUILT_IN_ROLES } from '../../domain/rbac/roles.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';

export const roleReadSchema = z
  .object({
    metadata: z.object({ id: z.string(), name: z.string(), description: z.string().optional(), creationTime: z.string() }),
  })
  .meta({ id: 'roleRead' });

// Built-in roles exist from the start of time, as far as clients can tell.
const EPOCH = new Date(0).toISOString();

/** The roles an organization may grant: every built-in role but the protected one. */
export const grantableRoles = () =>
  BUILT_IN_ROLES.filter((role) => !role.protected).map((role) => ({
    metadata: { id: role.id, name: role.name, description: role.description, creationTime: EPOCH },
  }));

export function roleRoutes() {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/roles',
      summary: 'The roles that may be granted in the organization.',
      tags: ['roles'],
      access: { family: 'identity:roles', operation: 'read' },
      request: { params: organizationPathSchema },
      responses: { 200: { description: 'A list of roles.', schema: z.array(roleReadSchema) } },
      handler: async () => ({ status: 200, body: grantableRoles() }),
    }),
  ];
}
