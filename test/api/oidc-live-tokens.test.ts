import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { basicAuthorization, createTenant, signIn, type Tenant, tokenRequest, type Tokens, userinfoRequest } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The read paths remember what a bearer check found (src/projections/sessions/live-tokens.ts).
 * Every case first makes the token's check remembered (an answer that says it is good), then
 * changes what the check depends on, and expects the very next request to see the change: these
 * fail if an event the read models applied does not drop the remembered check.
 */
describe('remembered bearer checks are dropped by the events that change them', () => {
  let server: TestServer;

  const introspect = async (tenant: Tenant, token: string) => {
    const response = await fetch(`${server.baseUrl}/oauth2/v2/introspect`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basicAuthorization(tenant.confidential.clientId, tenant.confidential.clientSecret),
      },
      body: new URLSearchParams({ token }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as { active: boolean; sub?: string; sid?: string };
  };
  const addGroup = async (tenant: Tenant, userIDs: string[]) => {
    const response = await server.api(`/api/v1/organizations/${tenant.organizationId}/groups`, {
      method: 'POST',
      json: { metadata: { name: `g-${Math.random().toString(36).slice(2, 8)}` }, spec: { userIDs, serviceAccountIDs: [], roleIDs: ['user'] } },
    });
    assert.equal(response.status, 201, await response.clone().text());
  };
  const usersOf = (tenant: Tenant, token: string) => server.api(`/api/v1/organizations/${tenant.organizationId}/users`, { token });
  const userPath = (tenant: Tenant) => `/api/v1/organizations/${tenant.organizationId}/users/${tenant.userId}`;
  const putUser = async (tenant: Tenant, change: { name?: string; state?: string }) => {
    const current = (await (await server.api(userPath(tenant))).json()) as any;
    const response = await server.api(userPath(tenant), {
      method: 'PUT',
      json: { metadata: { name: change.name ?? current.metadata.name }, spec: { subject: current.spec.subject, state: change.state ?? current.spec.state, groupIDs: current.spec.groupIDs } },
    });
    assert.equal(response.status, 200, await response.clone().text());
  };
  /** Good on every read path, and so remembered. */
  const expectGood = async (tenant: Tenant, tokens: Tokens) => {
    assert.equal((await userinfoRequest(server, tokens.access_token)).status, 200);
    assert.equal((await usersOf(tenant, tokens.access_token)).status, 200);
    assert.equal((await introspect(tenant, tokens.access_token)).active, true);
  };

  before(async () => {
    server = await startTestServer();
  });
  after(async () => server.close());

  test('a revocation (RFC 7009) ends a remembered token on userinfo, introspection and the admin API at once', async () => {
    const tenant = await createTenant(server);
    await addGroup(tenant, [tenant.userId]);
    const tokens = await signIn(server, tenant);
    await expectGood(tenant, tokens);
    await expectGood(tenant, tokens); // now from memory

    const revoked = await fetch(`${server.baseUrl}/oauth2/v2/revoke`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basicAuthorization(tenant.confidential.clientId, tenant.confidential.clientSecret),
      },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    assert.equal(revoked.status, 200);
    assert.equal((await userinfoRequest(server, tokens.access_token)).status, 401);
    assert.equal((await introspect(tenant, tokens.access_token)).active, false);
    assert.equal((await usersOf(tenant, tokens.access_token)).status, 401);
  });

  test('a new generation of the session (a new login) ends the previous one, remembered or not', async () => {
    const tenant = await createTenant(server);
    await addGroup(tenant, [tenant.userId]);
    const first = await signIn(server, tenant);
    await expectGood(tenant, first);
    const second = await signIn(server, tenant);
    assert.equal((await introspect(tenant, first.access_token)).active, false);
    assert.equal((await userinfoRequest(server, first.access_token)).status, 401);
    assert.equal((await usersOf(tenant, first.access_token)).status, 401);
    await expectGood(tenant, second);
  });

  test("a suspension ends a remembered user's token on userinfo and the admin API at once", async () => {
    const tenant = await createTenant(server);
    await addGroup(tenant, [tenant.userId]);
    const tokens = await signIn(server, tenant);
    await expectGood(tenant, tokens);
    await putUser(tenant, { state: 'suspended' });
    assert.equal((await userinfoRequest(server, tokens.access_token)).status, 401);
    assert.equal((await usersOf(tenant, tokens.access_token)).status, 401);
  });

  test("userinfo answers a user's new name at once", async () => {
    const tenant = await createTenant(server);
    const tokens = await signIn(server, tenant, 'openid profile');
    const before = (await (await userinfoRequest(server, tokens.access_token)).json()) as { name: string };
    await putUser(tenant, { name: `${before.name}-renamed` });
    const renamed = (await (await userinfoRequest(server, tokens.access_token)).json()) as { name: string };
    assert.equal(renamed.name, `${before.name}-renamed`);
  });

  test("a deleted user's remembered token stops working at once", async () => {
    const tenant = await createTenant(server);
    await addGroup(tenant, [tenant.userId]);
    const tokens = await signIn(server, tenant);
    await expectGood(tenant, tokens);
    const deleted = await server.api(userPath(tenant), { method: 'DELETE' });
    assert.ok([200, 202, 204].includes(deleted.status), `delete: ${deleted.status}`);
    assert.equal((await userinfoRequest(server, tokens.access_token)).status, 401);
    assert.equal((await usersOf(tenant, tokens.access_token)).status, 401);
  });

  test("a disabled application's remembered client-credentials token is inactive at once", async () => {
    const tenant = await createTenant(server);
    const other = await createTenant(server);
    // A resource server of the same organization: a second confidential application that introspects.
    const created = await server.api(`/api/v1/organizations/${tenant.organizationId}/applications`, {
      method: 'POST',
      json: { metadata: { name: 'api' }, spec: { redirectURIs: [tenant.redirectUri], groupIDs: [], grantTypes: ['client_credentials'], public: false } },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const api = (await created.json()) as { metadata: { id: string }; status: { clientSecret: string } };
    const resourceServer = { ...tenant, confidential: { clientId: api.metadata.id, clientSecret: api.status.clientSecret } };

    const credentials = { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret };
    const app = (await (await tokenRequest(server, { grant_type: 'client_credentials' }, credentials)).json()) as Tokens;
    for (let i = 0; i < 2; i++) {
      assert.equal((await introspect(resourceServer, app.access_token)).active, true);
      // Authenticated (no roles, so forbidden), not refused as a bearer.
      assert.equal((await usersOf(tenant, app.access_token)).status, 403);
      // Another organization's client learns nothing of it, remembered or not.
      assert.equal((await introspect(other, app.access_token)).active, false);
    }

    const patched = await server.api(`/api/v1/organizations/${tenant.organizationId}/applications/${tenant.confidential.clientId}`, {
      method: 'PATCH',
      json: { spec: { enabled: false } },
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    assert.equal((await introspect(resourceServer, app.access_token)).active, false);
    assert.equal((await usersOf(tenant, app.access_token)).status, 401);
  });
});
