import { z } from 'zod';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../shared/resource.js';

export const OAUTH2_PROVIDER_TYPES = ['google', 'microsoft', 'github'] as const;
export const oauth2ProviderTypeSchema = z.enum(OAUTH2_PROVIDER_TYPES).meta({ id: 'oauth2ProviderType' });
export type OAuth2ProviderType = z.infer<typeof oauth2ProviderTypeSchema>;

/**
 * A client secret as the log keeps it: AES-256-GCM ciphertext with its iv and
 * tag, behind a key version (src/infra/secrets/sealer.ts). Never the secret itself.
 */
export const sealedSecretSchema = z.string().regex(/^v\d{1,4}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$/, 'must be a sealed secret');

const providerDetails = {
  providerId: z.string(),
  organizationId: z.string(),
  name: resourceNameSchema,
  description: descriptionSchema.optional(),
  tags: z.array(tagSchema),
  type: oauth2ProviderTypeSchema.optional(),
  issuer: z.string(),
  clientID: z.string(),
  sealedClientSecret: sealedSecretSchema.optional(),
};

export const identityProviderEventSchemas = {
  'identity_provider.created': z.object(providerDetails),
  'identity_provider.updated': z.object(providerDetails),
  'identity_provider.deleted': z.object({ providerId: z.string(), organizationId: z.string(), name: resourceNameSchema }),
} as const;

type Schemas = typeof identityProviderEventSchemas;
export type IdentityProviderEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

export const identityProviderStream = (providerId: string): string => `identityprovider-${providerId}`;
