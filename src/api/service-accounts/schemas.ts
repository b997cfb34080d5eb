import { z } from 'zod';
import { organizationPathSchema, organizationScopedResourceReadMetadataSchema, resourceWriteMetadataSchema } from '../organizations/schemas.js';


const groupIdSchema = z.string().min(1).max(128);

export const serviceAccountSpecSchema = z
  .object({ groupIDs: z.array(groupIdSchema).max(256).optional() })
  .strict()
  .meta({ id: 'serviceAccountSpec' });

export const serviceAccountStatusSchema = z
  .object({ expiry: z.string(), accessToken: z.string().optional() })
  .meta({ id: 'serviceAccountStatus' });

/** Without spec.groupIDs, the account belongs to no group: a PUT replaces the memberships. */
export const serviceAccountWriteSchema = z
  .object({ metadata: resourceWriteMetadataSchema, spec: serviceAccountSpecSchema.optional() })
  .strict()
  .meta({ id: 'serviceAccountWrite' });
export type ServiceAccountWrite = z.infer<typeof serviceAccountWriteSchema>;

export const serviceAccountReadSchema = z
  .object({ metadata: organizationScopedResourceReadMetadataSchema, spec: serviceAccountSpecSchema, status: serviceAccountStatusSchema })
  .meta({ id: 'serviceAccountRead' });

/** Create and rotate: the only two answers that carry the token. */
export const serviceAccountCreateSchema = z
  .object({
    metadata: organizationScopedResourceReadMetadataSchema,
    spec: serviceAccountSpecSchema,
    status: serviceAccountStatusSchema.extend({ accessToken: z.string() }),
  })
  .meta({ id: 'serviceAccountCreate' });

export const serviceAccountsSchema = z.array(serviceAccountReadSchema).meta({ id: 'serviceAccounts' });

export const serviceAccountPathSchema = organizationPathSchema.extend({ serviceAccountID: z.string().min(1).max(128) });
