import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { hiddenField, pkcePair } from './oidc.js';
import { freePort } from './process.js';
import { startTestServer, type TestServer } from './server.js';
import { tempDir } from './temp.js';
import { startUpstream, type Upstream, type UpstreamAccount } from './upstream.js';

/** A service and a real upstream provider that trust each other: the upstream's client redirects to our callback. */
export interface FederationRig {
  readonly server: TestServer;
  readonly upstream: Upstream;
  readonly platformProviderId: string;
  close(): Promise<void>;
}

export async function startFederationRig(options: { accounts?: Record<string, UpstreamAccount>; env?: Record<string, string> } = {}): Promise<FederationRig> {
  const dir = tempDir('federation-');
  const port = await freePort();
  const ourIssuer = `http://127.0.0.1:${port}`;
  const upstream = await startUpstream({ redirectUris: [`${ourIssuer}/oidc/callback`], dir: dir.path, ...(options.accounts && { accounts: options.accounts }) });
  const platformProviderId = 'upstream-platform';
  const server = await startTestServer({
    env: {
      PORT: String(port),
      ISSUER: ourIssuer,
      IDENTITY_PROVIDER_ALLOW_PRIVATE_NETWORKS: 'true',
      IDENTITY_PROVIDER_CA_FILE: upstream.caFile,
      OAUTH2_PROVIDERS: JSON.stringify([
        { id: platformProviderId, name: 'upstream', type: 'google', issuer: upstream.issuer, clientID: upstream.clientId, clientSecretEnv: 'TEST_UPSTREAM_SECRET' },
      ]),
      TEST_UPSTREAM_SECRET: upstream.clientSecret,
      ...options.env,
    },
  });
  return {
    server,
    upstream,
    platformProviderId,
    async close() {
      await server.close();
      await upstream.close();
      dir.remove();
    },
  };
}

export async function created(server: TestServer, path: string, json: unknown, method = 'POST'): Promise<any> {
  const response = await server.api(path, { method, json });
  assert.ok(response.status >= 200 && response.status < 300, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

let counter = 0;

/**
 * A `domain` organization whose users sign in through the upstream: its
 * provider registered through the API, spec.providerID naming it; a user with
 * `email` (no password), and a public application with its redirect URI.
 */
export async function domainOrganization(rig: FederationRig, options: { scope?: 'organization' | 'global'; redirectUri?: string } = {}) {
  const n = ++counter;
  const domain = `fed${n}-${randomBytes(3).toString('hex')}.example`;
  const name = `fed-${n}-${Date.now()}`;
  const org = await created(rig.server, '/api/v1/organizations', { metadata: { name }, spec: { organizationType: 'domain', domain } });
  const organizationId = org.metadata.id as string;
  let providerID = rig.platformProviderId;
  if ((options.scope ?? 'organization') === 'organization') {
    const provider = await created(rig.server, `/api/v1/organizations/${organizationId}/oauth2providers`, {
      metadata: { name: `upstream-${n}` },
      spec: { issuer: rig.upstream.issuer, clientID: rig.upstream.clientId, clientSecret: rig.upstream.clientSecret },
    });
    providerID = provider.metadata.id;
  }
  await created(
    rig.server,
    `/api/v1/organizations/${organizationId}`,
    { metadata: { name }, spec: { organizationType: 'domain', domain, providerScope: options.scope ?? 'organization', providerID } },
    'PUT',
  );
  const email = `bob@${domain}`;
  const user = await created(rig.server, `/api/v1/organizations/${organizationId}/users`, { metadata: { name: `bob-${n}` }, spec: { subject: email, state: 'active', groupIDs: [] } });
  const redirectUri = options.redirectUri ?? 'http://127.0.0.1:9/callback';
  const app = await created(rig.server, `/api/v1/organizations/${organizationId}/applications`, {
    metadata: { name: `app-${n}` },
    spec: { redirectURIs: [redirectUri], groupIDs: [], grantTypes: ['authorization_code', 'refresh_token'], public: true },
  });
  return { organizationId, domain, email, userId: user.metadata.id as string, clientId: app.metadata.id as string, redirectUri, providerID };
}

/** The start of a client's authorization request: the login page and its signed state. */
export async function beginAuthorization(server: TestServer, client: { clientId: string; redirectUri: string }, extra: Record<string, string> = {}) {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(12).toString('base64url');
  const nonce = randomBytes(12).toString('base64url');
  const url = new URL('/oauth2/v2/authorization', server.baseUrl);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    scope: 'openid email profile',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  const page = await fetch(url, { redirect: 'manual' });
  const html = await page.text();
  assert.equal(page.status, 200, html);
  const request = hiddenField(html, 'state');
  assert.ok(request);
  return { verifier, state, nonce, request, html };
}

/** Post the login form (email, no password, or a provider button); answers the redirect upstream and the binding cookie. */
export async function postIdentifier(server: TestServer, request: string, fields: Record<string, string>) {
  const response = await fetch(new URL('/oauth2/v2/login', server.baseUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ state: request, ...fields }),
  });
  const location = response.headers.get('location') ?? undefined;
  const cookie = response.headers.getSetCookie().map((line) => line.split(';')[0]!).join('; ');
  return { response, location, cookie, text: response.status === 302 ? '' : await response.text() };
}

/** GET our callback as the browser would, with its cookie. */
export function callback(callbackUrl: string, cookie: string | undefined) {
  return fetch(callbackUrl, { redirect: 'manual', headers: cookie ? { cookie } : {} });
}

/** Redeem a code at our token endpoint and verify the ID token against our JWKS. */
export async function redeem(server: TestServer, client: { clientId: string; redirectUri: string }, code: string, verifier: string, nonce: string) {
  const response = await fetch(new URL('/oauth2/v2/token', server.baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, client_id: client.clientId, code_verifier: verifier }),
  });
  const body = (await response.json()) as { id_token: string; access_token: string };
  assert.equal(response.status, 200, JSON.stringify(body));
  const jwks = createRemoteJWKSet(new URL('/oauth2/v2/jwks', server.baseUrl));
  const { payload } = await jwtVerify(body.id_token, jwks, { issuer: server.baseUrl, audience: client.clientId });
  assert.equal(payload.nonce, nonce);
  return payload;
}
