import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { authorize, basicAuthorization, createTenant, refreshRequest, signIn, type Tenant, type Tokens, tokenRequest, userinfoRequest } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** A session signed in through the tenant's public client (PKCE only). */
async function signInPublic(server: TestServer, tenant: Tenant, password = tenant.password): Promise<Tokens> {
  const { code, verifier } = await authorize(server, { clientId: tenant.publicClientId, redirectUri: tenant.redirectUri, email: tenant.email, password });
  const response = await tokenRequest(server, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: tenant.redirectUri,
    code_verifier: verifier,
    client_id: tenant.publicClientId,
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as Tokens;
}

const introspect = async (server: TestServer, tenant: Tenant, token: string) => {
  const response = await fetch(`${server.baseUrl}/oauth2/v2/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(tenant.confidential.clientId, tenant.confidential.clientSecret) },
    body: new URLSearchParams({ token }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { active: boolean }).active;
};

describe('sessions end when trust ends', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  test("an administrator's password reset ends every session of the user before it answers", async () => {
    const tenant = await createTenant(server);
    const tokens = await signIn(server, tenant);
    const reset = await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${tenant.userId}/password`, { method: 'POST' });
    assert.equal(reset.status, 200);
    assert.equal((await userinfoRequest(server, tokens.access_token)).status, 401);
    assert.equal((await refreshRequest(server, tenant, tokens.refresh_token!)).status, 400);
  });

  test("changing one's own password ends the user's other sessions and keeps this one", async () => {
    const tenant = await createTenant(server);
    const here = await signInPublic(server, tenant);
    const elsewhere = await signIn(server, tenant);
    const changed = await fetch(`${server.baseUrl}/api/v1/me/password`, {
      method: 'POST',
      headers: { authorization: `Bearer ${here.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ currentPassword: tenant.password, newPassword: 'my brand new password' }),
    });
    assert.equal(changed.status, 204, await changed.text());
    assert.equal((await userinfoRequest(server, elsewhere.access_token)).status, 401, 'the other session ended');
    assert.equal((await refreshRequest(server, tenant, elsewhere.refresh_token!)).status, 400);
    assert.equal((await userinfoRequest(server, here.access_token)).status, 200, 'the session that changed it stays');
  });

  test('suspending a user ends its sessions: making it active again revives none of them', async () => {
    const tenant = await createTenant(server);
    const tokens = await signIn(server, tenant);
    const path = `/api/v1/organizations/${tenant.organizationId}/users/${tenant.userId}`;
    const user = (await (await server.api(path)).json()) as { metadata: { name: string }; spec: { subject: string; groupIDs: string[] } };
    const put = (state: string) =>
      server.api(path, { method: 'PUT', json: { metadata: { name: user.metadata.name }, spec: { subject: user.spec.subject, groupIDs: user.spec.groupIDs, state } } });
    assert.equal((await put('suspended')).status, 200);
    assert.equal((await put('active')).status, 200);
    assert.equal((await userinfoRequest(server, tokens.access_token)).status, 401);
    assert.equal((await refreshRequest(server, tenant, tokens.refresh_token!)).status, 400);
    assert.equal(await introspect(server, tenant, tokens.refresh_token!), false);
  });

  test("disabling an application ends its sessions: enabling it again revives no old token", async () => {
    const tenant = await createTenant(server);
    const userTokens = await signIn(server, tenant);
    const cc = await tokenRequest(server, { grant_type: 'client_credentials' }, { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret });
    assert.equal(cc.status, 200);
    const clientToken = ((await cc.json()) as Tokens).access_token;
    assert.equal((await server.api('/api/v1/acl', { token: clientToken })).status, 200);
    const path = `/api/v1/organizations/${tenant.organizationId}/applications/${tenant.confidential.clientId}`;
    const patch = (enabled: boolean) =>
      server.api(path, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ spec: { enabled } }), token: undefined });
    assert.equal((await patch(false)).status, 200);
    assert.equal((await patch(true)).status, 200);
    assert.equal((await server.api('/api/v1/acl', { token: clientToken })).status, 401, 'the old client-credentials token stays dead');
    assert.equal((await userinfoRequest(server, userTokens.access_token)).status, 401, "the users' sessions of that client too");
    assert.equal((await refreshRequest(server, tenant, userTokens.refresh_token!)).status, 400);
  });
});

describe('refresh tokens have an idle lifetime', () => {
  let server: TestServer;
  let tenant: Tenant;
  before(async () => {
    server = await startTestServer({ env: { REFRESH_TOKEN_IDLE_LIFETIME_SECONDS: '3', REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS: '600' } });
    tenant = await createTenant(server);
  });
  after(() => server.close());

  test('a refresh token unused for longer than the idle lifetime is refused, and introspects inactive', async () => {
    const tokens = await signIn(server, tenant);
    assert.equal(await introspect(server, tenant, tokens.refresh_token!), true);
    await sleep(3_300);
    assert.equal(await introspect(server, tenant, tokens.refresh_token!), false);
    const response = await refreshRequest(server, tenant, tokens.refresh_token!);
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error_description: string }).error_description, /expired/);
  });

});

describe('refresh tokens end at their absolute lifetime, however busy', () => {
  let server: TestServer;
  let tenant: Tenant;
  // Idle long enough never to be the reason; absolute short, with seconds of margin for a loaded machine.
  before(async () => {
    server = await startTestServer({ env: { REFRESH_TOKEN_IDLE_LIFETIME_SECONDS: '600', REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS: '6' } });
    tenant = await createTenant(server);
  });
  after(() => server.close());

  test('a session kept busy still ends at its absolute lifetime', async () => {
    let tokens = await signIn(server, tenant);
    // The session started before this moment (at the code exchange), so its age is at least the time since.
    const signedIn = Date.now();
    for (let i = 0; i < 3; i++) {
      await sleep(1_000);
      const response = await refreshRequest(server, tenant, tokens.refresh_token!);
      assert.equal(response.status, 200, `rotation ${i}: ${await response.clone().text()}`);
      tokens = (await response.json()) as Tokens;
    }
    await sleep(Math.max(0, 6_500 - (Date.now() - signedIn)));
    const response = await refreshRequest(server, tenant, tokens.refresh_token!);
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error_description: string }).error_description, /expired/);
  });
});
