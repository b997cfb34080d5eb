import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { TestServer } from './server.js';

export interface Tenant {
  readonly organizationId: string;
  readonly userId: string;
  readonly email: string;
  readonly password: string;
  /** A confidential client: authorization code, refresh token and client credentials. */
  readonly confidential: { clientId: string; clientSecret: string };
  /** A public client (PKCE only). */
  readonly publicClientId: string;
  readonly redirectUri: string;
}

let counter = 0;

/** An organization with a user who has a password, and two applications, made through the admin API. */
export async function createTenant(server: TestServer, options: { redirectUri?: string; userState?: string } = {}): Promise<Tenant> {
  const n = ++counter;
  const redirectUri = options.redirectUri ?? 'http://127.0.0.1:9/callback';
  const created = async (path: string, json: unknown) => {
    const response = await server.api(path, { method: 'POST', json });
    assert.ok(response.status === 201 || response.status === 202, `${path}: ${response.status} ${await response.clone().text()}`);
    return (await response.json()) as any;
  };
  const org = await created('/api/v1/organizations', { metadata: { name: `tenant-${n}-${Date.now()}` }, spec: { organizationType: 'adhoc' } });
  const organizationId = org.metadata.id as string;
  const email = `alice.${n}@example.com`;
  const password = 'correct horse battery staple';
  const user = await created(`/api/v1/organizations/${organizationId}/users`, {
    metadata: { name: `alice-${n}` },
    spec: { subject: email, state: options.userState ?? 'active', groupIDs: [], password },
  });
  const app = (name: string, spec: Record<string, unknown>) =>
    created(`/api/v1/organizations/${organizationId}/applications`, { metadata: { name }, spec: { redirectURIs: [redirectUri], groupIDs: [], ...spec } });
  const confidential = await app('console', { grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], public: false });
  const publicApp = await app('cli', { grantTypes: ['authorization_code', 'refresh_token'], public: true });
  return {
    organizationId,
    userId: user.metadata.id,
    email,
    password,
    confidential: { clientId: confidential.metadata.id, clientSecret: confidential.status.clientSecret },
    publicClientId: publicApp.metadata.id,
    redirectUri,
  };
}

const hiddenField = (html: string, name: string): string | undefined =>
  new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]?.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');

/** Submit the login form over HTTP, as a browser would; answers the final response (a redirect on success). */
export async function submitLogin(
  authorizationUrl: string,
  email: string,
  password: string,
  /** More form fields, e.g. the organization a platform application's login asks for. */
  extra: Record<string, string> = {},
): Promise<{ response: Response; html?: string }> {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  assert.equal(page.status, 200, `the login form: ${html}`);
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  const state = hiddenField(html, 'state');
  assert.ok(action && state, 'the form has an action and a state');
  const response = await fetch(new URL(action, authorizationUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ state, email, password, ...extra }),
  });
  return { response, html: response.status === 200 ? await response.text() : undefined };
}

export { hiddenField };

/** A PKCE pair (RFC 7636, S256). */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The authorization endpoint's URL with these parameters. */
export function authorizationUrl(server: TestServer, parameters: Record<string, string>): string {
  return `${server.baseUrl}/oauth2/v2/authorization?${new URLSearchParams(parameters)}`;
}

export interface AuthorizedCode {
  readonly code: string;
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
  /** Where the login sent the browser back to. */
  readonly location: URL;
}

/** Sign in through the login form and answer the code the client got back (PKCE S256, state and nonce). */
export async function authorize(
  server: TestServer,
  options: { clientId: string; redirectUri: string; email: string; password: string; scope?: string; organization?: string },
): Promise<AuthorizedCode> {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(12).toString('base64url');
  const nonce = randomBytes(12).toString('base64url');
  const url = authorizationUrl(server, {
    response_type: 'code',
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    scope: options.scope ?? 'openid email profile offline_access',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const { response, html } = await submitLogin(url, options.email, options.password, options.organization === undefined ? {} : { organization: options.organization });
  assert.equal(response.status, 302, `the login did not redirect: ${response.status} ${html ?? ''}`);
  const location = new URL(response.headers.get('location')!);
  const code = location.searchParams.get('code');
  assert.ok(code, `no code in ${location.href}`);
  return { code, verifier, state, nonce, location };
}

export const basicAuthorization = (clientId: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** POST to the token endpoint as a form; `basic` authenticates with client_secret_basic. */
export function tokenRequest(server: TestServer, form: Record<string, string>, basic?: { clientId: string; secret: string }): Promise<Response> {
  return fetch(`${server.baseUrl}/oauth2/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(basic && { authorization: basicAuthorization(basic.clientId, basic.secret) }) },
    body: new URLSearchParams(form),
  });
}

export interface Tokens {
  readonly access_token: string;
  readonly refresh_token?: string;
  readonly id_token?: string;
  readonly token_type: string;
  readonly expires_in: number;
  readonly scope?: string;
}

/** The whole code flow for the tenant's user through its confidential client (client_secret_basic). */
export async function signIn(server: TestServer, tenant: Tenant, scope?: string): Promise<Tokens> {
  const { code, verifier } = await authorize(server, {
    clientId: tenant.confidential.clientId,
    redirectUri: tenant.redirectUri,
    email: tenant.email,
    password: tenant.password,
    ...(scope !== undefined && { scope }),
  });
  const response = await tokenRequest(
    server,
    { grant_type: 'authorization_code', code, redirect_uri: tenant.redirectUri, code_verifier: verifier },
    { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret },
  );
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as Tokens;
}

/** Refresh with the tenant's confidential client; answers the raw response. */
export function refreshRequest(server: TestServer, tenant: Tenant, refreshToken: string): Promise<Response> {
  return tokenRequest(
    server,
    { grant_type: 'refresh_token', refresh_token: refreshToken },
    { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret },
  );
}

/** GET /oauth2/v2/userinfo with a bearer token. */
export function userinfoRequest(server: TestServer, accessToken: string): Promise<Response> {
  return fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
}

/** Assert an OAuth error body (RFC 6749 5.2) with this status and code, and that it is not cacheable. */
export async function expectOAuthError(response: Response, status: number, error: string): Promise<{ error: string; error_description: string }> {
  const text = await response.text();
  assert.equal(response.status, status, `expected ${status} ${error}, got ${response.status}: ${text}`);
  const body = JSON.parse(text) as { error: string; error_description: string };
  assert.equal(body.error, error, text);
  assert.equal(typeof body.error_description, 'string');
  assert.ok(body.error_description.length > 0);
  assert.match(response.headers.get('cache-control') ?? '', /no-store/);
  return body;
}

/** Create a user (with a password) in an organization through the admin API; answers its id. */
export async function createUser(server: TestServer, organizationId: string, email: string, password: string, state = 'active'): Promise<string> {
  const response = await server.api(`/api/v1/organizations/${organizationId}/users`, {
    method: 'POST',
    json: { metadata: { name: `u-${randomBytes(4).toString('hex')}` }, spec: { subject: email, state, groupIDs: [], password } },
  });
  assert.ok(response.status === 201 || response.status === 202, `create user: ${response.status} ${await response.clone().text()}`);
  return ((await response.json()) as { metadata: { id: string } }).metadata.id;
}
