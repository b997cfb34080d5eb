import assert from 'node:assert/strict';
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
export async function submitLogin(authorizationUrl: string, email: string, password: string): Promise<{ response: Response; html?: string }> {
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
    body: new URLSearchParams({ state, email, password }),
  });
  return { response, html: response.status === 200 ? await response.text() : undefined };
}

export { hiddenField };
