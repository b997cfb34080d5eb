import { createHash } from 'node:crypto';

/**
 * The digest a client secret is kept as. A secret is 256 random bits, so a
 * plain SHA-256 is enough: there is nothing to guess that a slow hash would protect.
 */
export const clientSecretDigest = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');
