import { z } from 'zod';
import { OPERATIONS } from '../../domain/rbac/roles.js';
import type { AccessControl } from '../auth/access-control.js';
import { ForbiddenHttpError } from '../http/errors.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';

const aclEndpointSchema = z.object({ name: z.string(), operations: z.array(z.enum(OPERATIONS)) }).meta({ id: 'aclEndpoint' });
const aclScopedEndpointsSchema = z.object({ id: z.string(), endpoints: z.array(aclEndpointSchema) }).meta({ id: 'aclScopedEndpoints' });
export const aclSchema = z
  .object({
    global: z.array(aclEndpointSchema).optional(),
    organization: aclScopedEndpointsSchema.optional(),
    projects: z.array(aclScopedEndpointsSchema).optional(),
  })
  .meta({ id: 'acl' });

export function aclRoutes(access: AccessControl) {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/acl',
      summary: "The caller's access control list: what it may do globally, in its organization and in its projects.",
      tags: ['acl'],
      access: 'authenticated',
      responses: { 200: { description: 'A list of access controls.', schema: aclSchema } },
      handler: async ({ caller }) => ({ status: 200, body: await access.acl(caller) }),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/acl',
      summary: "The caller's access control list in one organization.",
      tags: ['acl'],
      access: 'authenticated',
      request: { params: organizationPathSchema },
      responses: { 200: { description: 'A list of access controls.', schema: aclSchema } },
      handler: async ({ caller, params }) => {
        if (!caller.platformAdministrator && caller.organizationId !== params.organizationID) {
          throw new ForbiddenHttpError('not a member of this organization');
        }
        return { status: 200, body: await access.acl(caller, params.organizationID) };
      },
    }),
  ];
}
