import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { EncryptJWT, jwtDecrypt } from 'jose';
import type { ProviderRef } from './federation-providers.js';

/** A federated login's pending state lives 10 minutes. */
export const FEDERATION_STATE_TTL_SECONDS = 600;

/**
 * What survives the round trip to the upstream, sealed into the `state`
 * parameter (JWE, dir + A256GCM, with a key derived from the secrets key):
 * the client's pending authorization, the provider, the PKCE verifier and
 * nonce, the organization the login is for, and the hash of the browser's
 * binding cookie. The browser and the upstream see only ciphertext.
 */
export interface FederationState<Pending> {
  readonly id: string;
  readonly pending: Pending;
  readonly provider: ProviderRef;
  /** The organization whose account signs in (a domain organization, the client's, or the one a platform login named). */
  readonly organizationId?: string;
  readonly codeVerifier: string;
  readonly nonce: string;
  /** SHA-256 of the binding cookie's value. */
  readonly binding: string;
}

const AUDIENCE = 'federation-state';
const digest = (value: string) => createHash('sha256').update(value).digest('base64url');

export class FederationStateSealer {
  constructor(
    private readonly key: Uint8Array,
    private readonly issuer: string,
  ) {}

  /** A new state and the binding cookie's value, which only the browser keeps. */
  async seal<Pending>(content: Omit<FederationState<Pending>, 'id' | 'binding'>): Promise<{ state: string; id: string; cookieValue: string }> {
    const id = randomBytes(16).toString('base64url');
    const cookieValue = randomBytes(32).toString('base64url');
    const state = await new EncryptJWT({ ...content, id, binding: digest(cookieValue) } as unknown as Record<string, unknown>)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: 'federation-state+jwt' })
      .setIssuer(this.issuer)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${FEDERATION_STATE_TTL_SECONDS}s`)
      .encrypt(this.key);
    return { state, id, cookieValue };
  }

  /** The state's content; undefined when it is not ours, altered, or expired. */
  async open<Pending>(state: string | undefined): Promise<FederationState<Pending> | undefined> {
    if (!state || state.length > 16_384) return undefined;
    try {
      const { payload } = await jwtDecrypt(state, this.key, { issuer: this.issuer, audience: AUDIENCE, keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      return payload as unknown as FederationState<Pending>;
    } catch {
      return undefined;
    }
  }

  /** Whether the cookie presented is the one this state was bound to. */
  static bound(state: { binding: string }, cookieValue: string | undefined): boolean {
    if (!cookieValue) return false;
    const a = Buffer.from(digest(cookieValue));
    const b = Buffer.from(state.binding);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

/** The binding cookie of one state: its own name, so two sign-ins in two tabs do not overwrite each other. */
export const bindingCookieName = (stateId: string): string => `fedbind_${stateId}`;

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
