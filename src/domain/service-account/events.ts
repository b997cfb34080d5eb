import { z } from 'zod';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../shared/resource.js';

/** A SHA-256 digest in hex: all the log ever keeps of an access token. */
export const tokenDigestSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest in hex');

const serviceAccountDetails = {
  serviceAccountId: z.string(),
  organizationId: z.string(),
  name: resourceNameSchema,
  description: descriptionSchema.optional(),
  tags: z.array(tagSchema),
};

const credential = { tokenSha256: tokenDigestSchema, expiry: z.iso.datetime() };

/**
 * A service account's own stream. Which groups it belongs to is not here: the
 * group streams are the one source of truth for membership.
 */
export const serviceAccountEventSchemas = {
  'serviceaccount.created': z.object({ ...serviceAccountDetails, ...credential }),
  'serviceaccount.updated': z.object(serviceAccountDetails),
  'serviceaccount.token.rotated': z.object({ serviceAccountId: z.string(), organizationId: z.string(), ...credential }),
  'serviceaccount.deleted': z.object({ serviceAccountId: z.string(), organizationId: z.string(), name: resourceNameSchema }),
} as const;

type Schemas = typeof serviceAccountEventSchemas;
export type ServiceAccountEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

export const serviceAccountStream = (serviceAccountId: string): string => `serviceaccount-${serviceAccountId}`;
