import { z } from 'zod';
import { OPERATIONS } from '../../domain/rbac/roles.js';
import type { AccessControl } from '../auth/access-control.js';
import { ForbiddenHttpError, NotFoundHttpError } from '../http/errors.js';
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

const aclQuerySchema = z
  .object({ subject: z.string().min(1).max(128).optional().meta({ description: 'A user or service account of the organization: its list instead of the caller\'s (needs read on identity:audit).' }) })
  .strict();

/**
 * For another subject's list, and lists as of a moment: access control that
 * reads through the read-model switch (so as of the moment inside a read of
 * the past), and what kind of principal an id is in an organization (then).
 */
export interface SubjectAcls {
  readonly access: AccessControl;
  subjectKind(organizationId: string, id: string): Promise<'user' | 'service_account' | undefined>;
}

export function aclRoutes(access: AccessControl, subjects?: SubjectAcls) {
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
      // With asOf: what the caller (or the subject) could do then.
      timeTravel: subjects !== undefined,
      request: { params: organizationPathSchema, query: aclQuerySchema },
      responses: { 200: { description: 'A list of access controls.', schema: aclSchema } },
      handler: async ({ caller, params, query }) => {
        if (!caller.platformAdministrator && caller.organizationId !== params.organizationID) {
          throw new ForbiddenHttpError('not a member of this organization');
        }
        const subjectId = query.subject;
        if (subjectId === undefined) return { status: 200, body: await (subjects?.access ?? access).acl(caller, params.organizationID) };
        // Someone else's list is for auditors and administrators.
        if (subjectId !== caller.principalId) await access.require(caller, { organizationId: params.organizationID }, 'identity:audit', 'read');
        const kind = await subjects?.subjectKind(params.organizationID, subjectId);
        if (!subjects || !kind) throw new NotFoundHttpError(`no user or service account ${subjectId} in organization ${params.organizationID}`);
        const subject = { subject: subjectId, kind, platformAdministrator: false, organizationId: params.organizationID, principalId: subjectId };
        return { status: 200, body: await subjects.access.acl(subject, params.organizationID) };
      },
    }),
  ];
}
