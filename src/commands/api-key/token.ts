import { createHash, randomBytes } from 'node:crypto';

/**
 * An account's API key: `ak_<key id, 32 hex>_<256 random bits, base64url>`.
 * The prefix lets the resolver skip other tokens without a lookup and find
 * the key by its id; only the SHA-256 of the whole token is stored.
 */
const TOKEN = /^ak_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

export const apiKeyDigest = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

export function issueApiKey(): { token: string; keyId: string; tokenSha256: string } {
  const keyId = randomBytes(16).toString('hex');
  const token = `ak_${keyId}_${randomBytes(32).toString('base64url')}`;
  return { token, keyId, tokenSha256: apiKeyDigest(token) };
}

/** The key id a token claims, or undefined when it is not an API key. */
export const apiKeyIdOf = (token: string): string | undefined => TOKEN.exec(token)?.[1];
