import { z } from 'zod';
import { passwordPolicySchema } from '../credentials/password-policy.js';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../shared/resource.js';

export const organizationSpecSchema = z
  .object({
    organizationType: z.enum(['adhoc', 'domain']),
    domain: z.string().max(253).regex(/^(?=.{1,253}$)([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/, 'must be a hostname').optional(),
    providerScope: z.enum(['global', 'organization']).optional(),
    providerID: z.string().min(1).max(256).optional(),
    googleCustomerID: z.string().min(1).max(256).optional(),
  })
  .strict();
export type OrganizationSpec = z.infer<typeof organizationSpecSchema>;

const organizationDetails = {
  organizationId: z.string(),
  name: resourceNameSchema,
  description: descriptionSchema.optional(),
  tags: z.array(tagSchema),
  spec: organizationSpecSchema,
};

export const organizationEventSchemas = {
  'organization.created': z.object(organizationDetails),
  'organization.updated': z.object(organizationDetails),
  /** There is nothing outside the log to set up: the provisioning process records that it has seen the organization. */
  'organization.provisioned': z.object({ organizationId: z.string() }),
  'organization.provisioning_failed': z.object({ organizationId: z.string(), reason: z.string() }),
  /** Asked to go: from here on it takes no new children, and the cascade removes the ones it has. */
  'organization.deletion_requested': z.object({ organizationId: z.string() }),
  /** The cascade stopped for good (the reason says why); a new deletion request starts it again. */
  'organization.deletion_failed': z.object({ organizationId: z.string(), reason: z.string() }),
  'organization.deleted': z.object({ organizationId: z.string(), name: resourceNameSchema }),
  /** The organization's tenant number (the compatible APIs' tenantId), drawn once from the counter (src/domain/tenancy). */
  'organization.tenant_number.assigned': z.object({ organizationId: z.string(), tenantId: z.number().int().positive() }),
  /** The organization's password policy, whole (docs/password-policy.md). */
  'organization.password_policy.changed': z.object({ organizationId: z.string(), policy: passwordPolicySchema }),
} as const;

type Schemas = typeof organizationEventSchemas;
export type OrganizationEvent = {
  [Type in keyof Schemas]: { type: Type; data: z.infer<Schemas[Type]> };
}[keyof Schemas];

export const organizationStream = (organizationId: string): string => `organization-${organizationId}`;
