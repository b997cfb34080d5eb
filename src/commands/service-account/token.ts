import { createHash, randomBytes } from 'node:crypto';

/**
 * A service account's access token: `sa_<id without dashes>_<256 random bits, base64url>`.
 * The prefix lets a resolver skip foreign tokens without a lookup and find the
 * account by id; only the SHA-256 digest of the whole token is ever stored.
 */
const TOKEN = /^sa_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

export const tokenDigest = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

export function issueToken(serviceAccountId: string): { token: string; tokenSha256: string } {
  const compactId = serviceAccountId.replaceAll('-', '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(compactId)) throw new Error(`service account id ${serviceAccountId} is not a UUID`);
  const token = `sa_${compactId}_${randomBytes(32).toString('base64url')}`;
  return { token, tokenSha256: tokenDigest(token) };
}

/** The service account a token claims to belong to, or undefined when it is not a service account token. */
export function serviceAccountIdOf(token: string): string | undefined {
  const hex = TOKEN.exec(token)?.[1];
  return hex && `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
