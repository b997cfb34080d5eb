import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { basicAuthorization, createTenant, type Tenant, tokenRequest } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The token, revocation and introspection endpoints remember an authenticated client
 * (src/projections/sessions/known-clients.ts). Every case first has the client
 * authenticated twice (so the second one comes from memory), then changes what its
 * authentication depends on, and expects the very next request to see the change: these
 * fail if an application event the read models applied does not drop the remembered client.
 */
describe('remembered client authentications are dropped by the application events that change them', () => {
  let server: TestServer;

  const introspect = (clientId: string, secret: string) =>
    fetch(`${server.baseUrl}/oauth2/v2/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(clientId, secret) },
      body: new URLSearchParams({ token: 'not-a-token' }),
    });
  const introspectPosted = (clientId: string, secret: string) =>
    fetch(`${server.baseUrl}/oauth2/v2/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'not-a-token', client_id: clientId, client_secret: secret }),
    });
  const clientCredentials = (clientId: string, secret: string) => tokenRequest(server, { grant_type: 'client_credentials' }, { clientId, secret });
  const applicationPath = (tenant: Tenant) => `/api/v1/organizations/${tenant.organizationId}/applications/${tenant.confidential.clientId}`;

  /** Authenticated on introspection (both methods) and the token endpoint, twice: now remembered. */
  const expectAccepted = async (clientId: string, secret: string) => {
    for (let i = 0; i < 2; i++) {
      const answer = await introspect(clientId, secret);
      assert.equal(answer.status, 200, await answer.clone().text());
      assert.deepEqual(await answer.json(), { active: false });
      assert.equal((await introspectPosted(clientId, secret)).status, 200);
      assert.equal((await clientCredentials(clientId, secret)).status, 200);
    }
  };
  const expectRefused = async (clientId: string, secret: string) => {
    const answer = await introspect(clientId, secret);
    assert.equal(answer.status, 401, await answer.clone().text());
    assert.equal(((await answer.json()) as { error: string }).error, 'invalid_client');
    assert.equal((await introspectPosted(clientId, secret)).status, 401);
    assert.equal((await clientCredentials(clientId, secret)).status, 401);
  };

  before(async () => {
    server = await startTestServer();
  });
  after(async () => server.close());

  test('a wrong secret is refused, before and after the right one was remembered', async () => {
    const tenant = await createTenant(server);
    const { clientId, clientSecret } = tenant.confidential;
    await expectRefused(clientId, `${clientSecret}x`);
    await expectAccepted(clientId, clientSecret);
    await expectRefused(clientId, `${clientSecret}x`);
    await expectRefused(clientId, clientSecret.slice(0, -1));
    await expectRefused(clientId, '');
    // Another client's id with this secret.
    await expectRefused(tenant.publicClientId, clientSecret);
  });

  test('a rotated secret is refused at once; the new one is accepted', async () => {
    const tenant = await createTenant(server);
    const { clientId, clientSecret } = tenant.confidential;
    await expectAccepted(clientId, clientSecret);
    const rotated = await server.api(`${applicationPath(tenant)}/secret`, { method: 'POST' });
    assert.equal(rotated.status, 200, await rotated.clone().text());
    const newSecret = ((await rotated.json()) as { status: { clientSecret: string } }).status.clientSecret;
    assert.notEqual(newSecret, clientSecret);
    await expectRefused(clientId, clientSecret);
    await expectAccepted(clientId, newSecret);
  });

  test('a disabled client is refused at once, and accepted again once enabled', async () => {
    const tenant = await createTenant(server);
    const { clientId, clientSecret } = tenant.confidential;
    await expectAccepted(clientId, clientSecret);
    const disabled = await server.api(applicationPath(tenant), { method: 'PATCH', json: { spec: { enabled: false } } });
    assert.equal(disabled.status, 200, await disabled.clone().text());
    await expectRefused(clientId, clientSecret);
    const enabled = await server.api(applicationPath(tenant), { method: 'PATCH', json: { spec: { enabled: true } } });
    assert.equal(enabled.status, 200, await enabled.clone().text());
    await expectAccepted(clientId, clientSecret);
  });

  test('a deleted client is refused at once', async () => {
    const tenant = await createTenant(server);
    const { clientId, clientSecret } = tenant.confidential;
    await expectAccepted(clientId, clientSecret);
    const deleted = await server.api(applicationPath(tenant), { method: 'DELETE' });
    assert.ok(deleted.status === 200 || deleted.status === 204, await deleted.clone().text());
    await expectRefused(clientId, clientSecret);
  });

  test('a remembered Basic header still meets the other rules of client authentication', async () => {
    const tenant = await createTenant(server);
    const { clientId, clientSecret } = tenant.confidential;
    await expectAccepted(clientId, clientSecret);
    const withBody = (fields: Record<string, string>) =>
      fetch(`${server.baseUrl}/oauth2/v2/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(clientId, clientSecret) },
        body: new URLSearchParams({ token: 'not-a-token', ...fields }),
      });
    const error = async (answer: Response) => ({ status: answer.status, error: ((await answer.json()) as { error: string }).error });
    // RFC 6749 2.3: one method per request, and a posted client_id must name the same client.
    assert.deepEqual(await error(await withBody({ client_secret: clientSecret })), { status: 400, error: 'invalid_request' });
    assert.deepEqual(await error(await withBody({ client_id: tenant.publicClientId })), { status: 400, error: 'invalid_request' });
    assert.equal((await withBody({ client_id: clientId })).status, 200);
  });
});
