import { z } from 'zod';
import { grantTypeSchema } from '../../domain/application/events.js';
import { organizationScopedResourceReadMetadataSchema } from '../organizations/schemas.js';
import { organizationPathSchema, resourceWriteMetadataSchema } from '../organizations/schemas.js';

const idSchema = z.string().min(1).max(128);

/**
 * The shape only; the rules between fields (grant types, redirect URIs,
 * platform) are the domain's, so that PUT and PATCH answer them alike.
 */
const applicationSpecWriteSchema = z
  .object({
    redirectURIs: z.array(z.string().min(1).max(2048)).max(64).default([]),
    grantTypes: z.array(grantTypeSchema).max(3),
    public: z.boolean().default(false),
    enabled: z.boolean().default(true),
    groupIDs: z.array(idSchema).max(256).default([]),
    platform: z.boolean().default(false),
  })
  .strict()
  .meta({ id: 'applicationSpecWrite' });

export const applicationWriteSchema = z
  .object({ metadata: resourceWriteMetadataSchema, spec: applicationSpecWriteSchema })
  .strict()
  .meta({ id: 'applicationWrite' });
export type ApplicationWrite = z.infer<typeof applicationWriteSchema>;

/** A JSON merge patch (RFC 7396) of an applicationWrite; the merged result is validated as one. */
export const applicationPatchSchema = z.record(z.string(), z.unknown()).meta({ id: 'applicationPatch' });

export const applicationSpecSchema = z
  .object({
    redirectURIs: z.array(z.string()),
    grantTypes: z.array(grantTypeSchema),
    public: z.boolean(),
    enabled: z.boolean(),
    groupIDs: z.array(z.string()),
    platform: z.boolean(),
  })
  .meta({ id: 'applicationSpec' });

/** The secret appears only in the answers to create and rotate, once. */
export const applicationStatusSchema = z.object({ clientSecret: z.string().optional() }).meta({ id: 'applicationStatus' });

export const applicationReadSchema = z
  .object({ metadata: organizationScopedResourceReadMetadataSchema, spec: applicationSpecSchema, status: applicationStatusSchema })
  .meta({ id: 'applicationRead' });

export const applicationsSchema = z.array(applicationReadSchema).meta({ id: 'applications' });

export const applicationPathSchema = organizationPathSchema.extend({ applicationID: idSchema });
