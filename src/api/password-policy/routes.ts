import type { OrganizationCommands } from '../../commands/organization/handlers.js';
import type { PasswordPolicy } from '../../domain/credentials/password-policy.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import type { OrganizationQueries } from '../../projections/organizations/queries.js';
import type { PasswordPolicyQueries } from '../../projections/password-policies/projection.js';
import { NotFoundHttpError } from '../http/errors.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';
import type { WriteContext } from '../write-context.js';
import { passwordPolicyReadSchema, passwordPolicyWriteSchema } from './schemas.js';

const TAGS = ['password policy'];

/**
 * An organization's password policy (seed 002; docs/password-policy.md): read
 * by whoever may read the organization, changed by its administrators. Seed 002
 * gives no path: seed 004's style under the organization, and /api/v2 for the
 * caller's organization as the compatible APIs resolve it.
 */
export function passwordPolicyRoutes(deps: { commands: OrganizationCommands; queries: PasswordPolicyQueries; organizations: OrganizationQueries; writes: WriteContext }) {
  const { commands, queries, organizations, writes } = deps;

  /** The organization's own policy, else the platform default it is under. */
  const read = async (organizationId: string) => {
    if (!(await organizations.get(organizationId))) throw new NotFoundHttpError(`organization ${organizationId} not found`);
    return (await queries.own(organizationId)) ?? queries.platformDefault;
  };
  const write = async (organizationId: string, policy: PasswordPolicy, meta: CommandMetadata) => {
    const result = await commands.changePasswordPolicy(organizationId, policy, meta);
    await writes.settle(result.position);
    return read(organizationId);
  };

  const getSummary = "Get the organization's password policy (the platform default while it has none of its own).";
  const putSummary = "Set the organization's password policy (the whole object; enabled false: the platform default applies). Organization administrators only.";
  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/password-policy',
      summary: getSummary,
      tags: TAGS,
      access: { family: 'identity:organizations', operation: 'read' },
      request: { params: organizationPathSchema },
      responses: { 200: { description: 'The password policy.', schema: passwordPolicyReadSchema } },
      handler: async ({ params }) => ({ status: 200, body: await read(params.organizationID) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/organizations/{organizationID}/password-policy',
      summary: putSummary,
      tags: TAGS,
      access: { family: 'identity:organizations', operation: 'update' },
      request: { params: organizationPathSchema, body: passwordPolicyWriteSchema },
      responses: { 200: { description: 'The password policy.', schema: passwordPolicyReadSchema } },
      handler: async ({ params, body, caller, requestId }) => ({ status: 200, body: await write(params.organizationID, body, writes.meta(caller, requestId)) }),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/password-policy',
      organization: 'caller',
      summary: getSummary,
      tags: TAGS,
      access: { family: 'identity:organizations', operation: 'read' },
      responses: { 200: { description: 'The password policy.', schema: passwordPolicyReadSchema } },
      handler: async ({ organizationId }) => ({ status: 200, body: await read(organizationId!) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v2/password-policy',
      organization: 'caller',
      summary: putSummary,
      tags: TAGS,
      access: { family: 'identity:organizations', operation: 'update' },
      request: { body: passwordPolicyWriteSchema },
      responses: { 200: { description: 'The password policy.', schema: passwordPolicyReadSchema } },
      handler: async ({ body, organizationId, caller, requestId }) => ({ status: 200, body: await write(organizationId!, body, writes.meta(caller, requestId)) }),
    }),
  ];
}
