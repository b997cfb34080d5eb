import * as client from 'openid-client';
import { guardedFetch, OutboundRequestError, type OutboundPolicy } from './guarded-fetch.js';

/**
 * This service as a relying party of an upstream OpenID provider (an
 * organization's Entra ID, Okta, Keycloak, or a platform provider), with
 * openid-client v6: discovery, authorization code with PKCE S256, state and
 * nonce, ID token validation. Every request goes through the guarded fetch.
 */
export interface UpstreamProvider {
  /** Cache key: which provider this is (`organization:<providerId>`, `platform:<id>`). */
  readonly key: string;
  readonly issuer: string;
  readonly clientID: string;
}

/** Why an upstream step failed, as the login flow answers it. */
export type UpstreamFailure =
  /** The upstream answered an error (to the browser or to the code exchange): the user, or the upstream, said no. */
  | 'upstream_error'
  /** Unreachable, too slow, refused by the address guard, or answering nonsense: try again later. */
  | 'upstream_unavailable'
  /** The answer did not check out: another audience, wrong nonce, issuer, signature, state. */
  | 'upstream_token_invalid';

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
  ) {
    super(message);
  }
}

/** What the callback learns from the upstream's ID token; its tokens are not kept. */
export interface UpstreamIdentity {
  readonly issuer: string;
  readonly subject: string;
  readonly email?: string;
  readonly emailVerified: boolean;
  readonly name?: string;
  readonly givenName?: string;
  readonly familyName?: string;
}

const DISCOVERY_TTL_MS = 60 * 60 * 1000;
/** Bounded: one entry per provider that was used recently. */
const MAX_CACHED = 256;

export class UpstreamClients {
  private readonly cache = new Map<string, { metadata: client.ServerMetadata; jwks?: client.ExportedJWKSCache; at: number; fingerprint: string }>();
  private readonly fetch: ReturnType<typeof guardedFetch>;

  constructor(private readonly policy: OutboundPolicy) {
    this.fetch = guardedFetch(policy);
  }

  /** Drop what is known of a provider: the next use discovers it again. */
  forget(provider: UpstreamProvider): void {
    this.cache.delete(provider.key);
  }

  private configure(config: client.Configuration, issuer: string): client.Configuration {
    config[client.customFetch] = this.fetch as unknown as client.CustomFetch;
    config.timeout = Math.ceil(this.policy.timeoutMs / 1000);
    // http issuers only reach here when private networks are allowed (the guard refuses them otherwise).
    if (new URL(issuer).protocol === 'http:') client.allowInsecureRequests(config);
    return config;
  }

  private async configuration(provider: UpstreamProvider, clientSecret?: string): Promise<client.Configuration> {
    const fingerprint = `${provider.issuer}\u0000${provider.clientID}`;
    let entry = this.cache.get(provider.key);
    if (!entry || entry.fingerprint !== fingerprint || Date.now() - entry.at > DISCOVERY_TTL_MS) {
      let discovered: client.Configuration;
      try {
        discovered = await client.discovery(new URL(provider.issuer), provider.clientID, undefined, client.None(), {
          [client.customFetch]: this.fetch as unknown as client.CustomFetch,
          timeout: Math.ceil(this.policy.timeoutMs / 1000),
          ...(new URL(provider.issuer).protocol === 'http:' && { execute: [client.allowInsecureRequests] }),
        });
      } catch (error) {
        this.forget(provider);
        throw new UpstreamError('upstream_unavailable', `discovery failed: ${describe(error)}`);
      }
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      entry = { metadata: discovered.serverMetadata(), at: Date.now(), fingerprint };
      this.cache.set(provider.key, entry);
    }
    // A fresh Configuration per use: the secret, unsealed by the caller for this exchange only, lives no longer than it.
    const auth = clientSecret === undefined ? client.None() : client.ClientSecretBasic(clientSecret);
    const config = this.configure(new client.Configuration(entry.metadata, provider.clientID, undefined, auth), provider.issuer);
    if (entry.jwks) client.setJwksCache(config, entry.jwks);
    return config;
  }

  /** The upstream authorization URL for one login: PKCE S256, state, nonce, and what passes upstream. */
  async authorizationUrl(
    provider: UpstreamProvider,
    request: { redirectUri: string; state: string; nonce: string; codeVerifier: string; loginHint?: string; prompt?: string; maxAge?: string; acrValues?: string },
  ): Promise<string> {
    const config = await this.configuration(provider);
    const parameters: Record<string, string> = {
      redirect_uri: request.redirectUri,
      response_type: 'code',
      scope: 'openid email profile',
      state: request.state,
      nonce: request.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(request.codeVerifier),
      code_challenge_method: 'S256',
      ...(request.loginHint !== undefined && { login_hint: request.loginHint }),
      ...(request.prompt !== undefined && { prompt: request.prompt }),
      ...(request.maxAge !== undefined && { max_age: request.maxAge }),
      ...(request.acrValues !== undefined && { acr_values: request.acrValues }),
    };
    return client.buildAuthorizationUrl(config, parameters).toString();
  }

  /**
   * The callback: check the response (state, RFC 9207 iss), exchange the code
   * with the verifier, validate the ID token (signature, issuer, audience,
   * nonce, expiry) and answer the identity it asserts. The upstream's access
   * and refresh tokens go out of scope here, unread.
   */
  async complete(
    provider: UpstreamProvider,
    callbackUrl: URL,
    checks: { state: string; nonce: string; codeVerifier: string; maxAge?: number },
    clientSecret: () => Promise<string | undefined>,
  ): Promise<UpstreamIdentity> {
    if (callbackUrl.searchParams.has('error')) {
      // Before any request: the upstream said no to the browser.
      throw new UpstreamError('upstream_error', `the identity provider answered ${callbackUrl.searchParams.get('error')}`);
    }
    const config = await this.configuration(provider, await clientSecret());
    let claims: client.IDToken | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
        ...(checks.maxAge !== undefined && { maxAge: checks.maxAge }),
      });
      claims = tokens.claims();
    } catch (error) {
      throw classify(error, () => this.forget(provider));
    } finally {
      const jwks = client.getJwksCache(config);
      const entry = this.cache.get(provider.key);
      if (jwks && entry) entry.jwks = jwks;
    }
    if (!claims) throw new UpstreamError('upstream_token_invalid', 'no ID token');
    const text = (value: unknown) => (typeof value === 'string' && value.length > 0 && value.length <= 1024 ? value : undefined);
    return {
      issuer: claims.iss,
      subject: claims.sub,
      ...(text(claims.email) !== undefined && { email: text(claims.email)! }),
      emailVerified: claims.email_verified === true,
      ...(text(claims.name) !== undefined && { name: text(claims.name)! }),
      ...(text(claims.given_name) !== undefined && { givenName: text(claims.given_name)! }),
      ...(text(claims.family_name) !== undefined && { familyName: text(claims.family_name)! }),
    };
  }
}

function describe(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    parts.push(`${current.name}: ${current.message}`);
    current = current.cause;
  }
  return parts.join(' <- ') || String(error);
}

const isNetwork = (error: unknown): boolean => {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof OutboundRequestError) return true;
    if ((current as { code?: string }).code === 'OAUTH_TIMEOUT') return true;
    if (current.name === 'AbortError' || current.name === 'TimeoutError') return true;
  }
  return false;
};

function classify(error: unknown, forget: () => void): UpstreamError {
  if (error instanceof client.AuthorizationResponseError || error instanceof client.ResponseBodyError || error instanceof client.WWWAuthenticateChallengeError) {
    return new UpstreamError('upstream_error', `the identity provider answered ${(error as { error?: string }).error ?? 'an error'}`);
  }
  if (isNetwork(error)) {
    forget();
    return new UpstreamError('upstream_unavailable', describe(error));
  }
  const code = (error as { code?: string }).code ?? '';
  // An unknown key, an unparsable answer: what we know of the provider may be stale; discover again next time.
  if (/JWKS|RESPONSE_IS_NOT|PARSE|JSON/.test(code)) forget();
  if (/RESPONSE_IS_NOT|PARSE|HTTP_REQUEST_FORBIDDEN|UNSUPPORTED_OPERATION/.test(code)) return new UpstreamError('upstream_unavailable', describe(error));
  return new UpstreamError('upstream_token_invalid', describe(error));
}
