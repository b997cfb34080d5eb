import { z } from 'zod';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../shared/resource.js';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const grantTypeSchema = z.enum(GRANT_TYPES);
export type GrantType = z.infer<typeof grantTypeSchema>;

/** A SHA-256 digest in hex: all the log ever keeps of a client secret. */
export const secretDigestSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest in hex');

/**
 * Created and updated carry the application's whole writable state, so that
 * each projection (the API's read model, the token service's credentials) can
 * take any one of them on its own.
 */
const applicationState = {
  applicationId: z.string(),
  organizationId: z.string(),
  name: resourceNameSchema,
  description: descriptionSchema.optional(),
  tags: z.array(tagSchema),
  redirectURIs: z.array(z.string()),
  grantTypes: z.array(grantTypeSchema),
  public: z.boolean(),
  enabled: z.boolean(),
  groupIDs: z.array(z.string()),
  platform: z.boolean(),
};

export const applicationEventSchemas = {
  // A confidential application is created with the digest of its first secret; a public one has none.
  'application.created': z.object({ ...applicationState, secretSha256: secretDigestSchema.optional() }),
  'application.updated': z.object(applicationState),
  'application.secret.rotated': z.object({ applicationId: z.string(), organizationId: z.string(), secretSha256: secretDigestSchema }),
  'application.deleted': z.object({ applicationId: z.string(), organizationId: z.string(), name: resourceNameSchema }),
} as const;

type Schemas = typeof applicationEventSchemas;
export type ApplicationEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

export const applicationStream = (applicationId: string): string => `application-${applicationId}`;
