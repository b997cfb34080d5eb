/**
 * OAuth client plumbing the token benchmark uses to set up sessions on both
 * providers: PKCE, client_secret_basic, a token request, and a browser-like
 * walk through redirects that keeps cookies.
 */
import { createHash, randomBytes } from 'node:crypto';

export const randomText = (): string => randomBytes(32).toString('base64url');

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomText();
  return { verifier, challenge: createHash('sha256').update(verifier, 'ascii').digest('base64url') };
}

/** RFC 6749 2.3.1: both parts are form-urlencoded before base64. */
export const basicAuth = (clientId: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export interface TokenAnswer {
  access_token: string;
  token_type: string;
  refresh_token?: string;
  id_token?: string;
  scope?: string;
}

/** POST a token request; answers the tokens, or throws with the status and the error body. */
export async function tokenRequest(url: string, authorization: string, params: Record<string, string>): Promise<TokenAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`token request (${params.grant_type}) to ${url}: ${response.status} ${text}`);
  return JSON.parse(text) as TokenAnswer;
}

/** A cookie jar as small as a benchmark needs: one host, names and values only. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      if (at <= 0) continue;
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      // An emptied cookie is how a server deletes one.
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/**
 * Follow redirects from `url` (GET, cookies kept) until one points at
 * `redirectUri`; answers that final URL. At most `maxHops` hops.
 */
export async function followToRedirectUri(url: string, redirectUri: string, jar: CookieJar, maxHops = 10): Promise<URL> {
  let next = new URL(url);
  for (let hop = 0; hop < maxHops; hop++) {
    const response = await fetch(next, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.store(response);
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) {
      throw new Error(`expected a redirect from ${next.pathname}, got ${response.status}: ${(await response.text()).slice(0, 500)}`);
    }
    await response.arrayBuffer();
    next = new URL(location, next);
    if (next.href.startsWith(redirectUri)) return next;
  }
  throw new Error(`no redirect to ${redirectUri} within ${maxHops} hops`);
}

/** The code of an authorization response, checking state; throws on an error response. */
export function codeFrom(callback: URL, state: string): string {
  const error = callback.searchParams.get('error');
  if (error) throw new Error(`authorization failed: ${error} ${callback.searchParams.get('error_description') ?? ''}`);
  if (callback.searchParams.get('state') !== state) throw new Error('the authorization response does not carry our state');
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code in ${callback.href}`);
  return code;
}

/** The protected header of a JWT, to check what a provider really issued. */
export function jwtHeader(token: string): { alg?: string; typ?: string; kid?: string } {
  const [header] = token.split('.');
  try {
    return JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')) as { alg?: string; typ?: string; kid?: string };
  } catch {
    return {};
  }
}
