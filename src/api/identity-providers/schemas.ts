import { z } from 'zod';
import { oauth2ProviderTypeSchema } from '../../domain/identity-provider/events.js';
import { organizationPathSchema, resourceReadMetadataSchema, resourceWriteMetadataSchema } from '../organizations/schemas.js';
import { organizationScopedResourceReadMetadataSchema } from '../organizations/schemas.js';

/** https only; which hosts are allowed is checked by the routes (src/infra/net/address-guard.ts). */
const issuerSchema = z.url({ protocol: /^https$/, error: 'must be an https URL' }).max(2048);

/**
 * The seed's oauth2ProviderSpec. On the way in, clientSecret is optional (a
 * PUT without it keeps the current one); on the way out it is never present.
 */
export const oauth2ProviderSpecSchema = z
  .object({
    type: oauth2ProviderTypeSchema.optional(),
    issuer: issuerSchema,
    clientID: z.string().min(1).max(512),
    clientSecret: z.string().min(1).max(4096).optional(),
  })
  .strict()
  .meta({ id: 'oauth2ProviderSpec' });

/** What reads return: the spec without any client secret (unknown keys are stripped on the way out). */
const oauth2ProviderReadSpecSchema = z.object({ type: oauth2ProviderTypeSchema.optional(), issuer: z.string(), clientID: z.string() });

export const oauth2ProviderWriteSchema = z
  .object({ metadata: resourceWriteMetadataSchema, spec: oauth2ProviderSpecSchema })
  .strict()
  .meta({ id: 'oauth2ProviderWrite' });
export type OAuth2ProviderWrite = z.infer<typeof oauth2ProviderWriteSchema>;

export const oauth2ProviderReadSchema = z
  .object({ metadata: organizationScopedResourceReadMetadataSchema, spec: oauth2ProviderReadSpecSchema })
  .meta({ id: 'oauth2ProviderRead' });

export const oauth2ProvidersSchema = z.array(oauth2ProviderReadSchema).meta({ id: 'oauth2Providers' });

export const systemOauth2ProviderReadSchema = z
  .object({ metadata: resourceReadMetadataSchema, spec: oauth2ProviderReadSpecSchema })
  .meta({ id: 'systemOauth2ProviderRead' });

export const systemOauth2ProvidersSchema = z.array(systemOauth2ProviderReadSchema).meta({ id: 'systemOauth2Providers' });

export const oauth2ProviderPathSchema = organizationPathSchema.extend({ providerID: z.string().min(1).max(128) });
