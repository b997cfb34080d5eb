import { z } from 'zod';

/**
 * The platform administrator's bootstrap credential. Only a SHA-256 digest of
 * the token is recorded: the token is 256 random bits, so a fast hash is enough.
 */
export const bootstrapEventSchemas = {
  'platform.bootstrap_token.issued': z.object({ tokenSha256: z.string().regex(/^[0-9a-f]{64}$/) }),
} as const;

export const BOOTSTRAP_STREAM = 'platform-bootstrap';
