import { z } from 'zod';

/**
 * An account's API key (docs/accounts.md): one live key per account, a new
 * one replaces the old. The log keeps the SHA-256 of the key (256 random bits
 * behind a recognisable prefix), never the key.
 */
export const API_KEY_REVOCATION_REASONS = ['revoked', 'replaced'] as const;

export const apiKeyEventSchemas = {
  'api_key.generated': z.object({
    keyId: z.string(),
    userId: z.string(),
    organizationId: z.string(),
    /** SHA-256 (hex) of the whole token. */
    tokenSha256: z.string().regex(/^[0-9a-f]{64}$/),
    expiresAt: z.iso.datetime({ offset: true }),
  }),
  'api_key.revoked': z.object({ keyId: z.string(), userId: z.string(), organizationId: z.string(), reason: z.enum(API_KEY_REVOCATION_REASONS) }),
} as const;

type Schemas = typeof apiKeyEventSchemas;
export type ApiKeyEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

/** One stream per account, beside the user's: key rotations never lengthen the user's stream. */
export const apiKeyStream = (userId: string): string => `apikey-${userId}`;
