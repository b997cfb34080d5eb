import { z } from 'zod';
import { listQuerySchema } from '../http/list-query.js';
import { organizationSpecSchema } from '../../domain/organization/events.js';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../../domain/shared/resource.js';

export const tagsSchema = z.array(tagSchema).max(64).meta({ id: 'tagList' });

export const resourceWriteMetadataSchema = z
  .object({ name: resourceNameSchema, description: descriptionSchema.optional(), tags: tagsSchema.optional() })
  .strict()
  .meta({ id: 'resourceWriteMetadata' });

export const provisioningStatusSchema = z
  .enum(['unknown', 'provisioning', 'provisioned', 'deprovisioning', 'error'])
  .meta({ id: 'resourceProvisioningStatus' });
export const healthStatusSchema = z.enum(['unknown', 'healthy', 'degraded', 'error']).meta({ id: 'resourceHealthStatus' });

export const resourceReadMetadataSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().optional(),
    tags: tagsSchema.optional(),
    creationTime: z.string(),
    createdBy: z.string().optional(),
    modifiedTime: z.string().optional(),
    modifiedBy: z.string().optional(),
    deletionTime: z.string().optional(),
    provisioningStatus: provisioningStatusSchema,
    healthStatus: healthStatusSchema,
  })
  .meta({ id: 'resourceReadMetadata' });

/** The seed's organizationScopedResourceReadMetadata: every organization-scoped resource reads with it. */
export const organizationScopedResourceReadMetadataSchema = resourceReadMetadataSchema
  .extend({ organizationId: z.string() })
  .meta({ id: 'organizationScopedResourceReadMetadata' });

const organizationSpecWriteSchema = organizationSpecSchema
  .refine((spec) => spec.organizationType !== 'domain' || spec.domain !== undefined, {
    message: 'is required when organizationType is domain',
    path: ['domain'],
  })
  .meta({ id: 'organizationSpec' });

export const organizationWriteSchema = z
  .object({ metadata: resourceWriteMetadataSchema, spec: organizationSpecWriteSchema })
  .strict()
  .meta({ id: 'organizationWrite' });
export type OrganizationWrite = z.infer<typeof organizationWriteSchema>;

export const organizationReadSchema = z
  .object({
    // tenantId: the organization's tenant number in the compatible APIs (docs/compat.md); read-only.
    metadata: resourceReadMetadataSchema.extend({ tenantId: z.number().int().optional() }),
    spec: organizationSpecSchema,
  })
  .meta({ id: 'organizationRead' });

export const organizationsSchema = z.array(organizationReadSchema).meta({ id: 'organizations' });

export const organizationPathSchema = z.object({ organizationID: z.string().min(1).max(128) });

export const organizationListQuerySchema = listQuerySchema.extend({ email: z.email().max(320).optional() }).strict();
