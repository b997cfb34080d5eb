import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { attribute } from '../../src/domain/audit/attribution.js';
import type { RecordedEvent } from '../../src/ports/event-store.js';
import { basicAuthorization, createTenant, expectOAuthError, signIn, tokenRequest, type Tenant } from '../support/oidc.js';
import { selfSigned } from '../support/pki.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Rejected client authentication at the token, introspection and revocation
 * endpoints: client.authentication.failed, sampled per (client id, source
 * address) and minute, never the secret presented.
 */
describe('client authentication failures', () => {
  let server: TestServer;
  let tenant: Tenant;
  const wrongSecret = 'this-is-not-the-secret-0123456789';

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
  });
  after(async () => server.close());

  const failures = async (stream: string) =>
    (await server.service.stores.events.readStream(stream)).filter((event) => event.type === 'client.authentication.failed');
  const data = (event: RecordedEvent) => event.data as Record<string, unknown>;
  const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${server.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) });
  /** Closes every open window, so that each test starts with fresh samples. */
  const freshWindows = () => server.service.denials.flush(true);

  test('a wrong secret at the token endpoint: the client, its organization, the reason and address; never the secret', async () => {
    await freshWindows();
    const response = await tokenRequest(server, { grant_type: 'client_credentials' }, { clientId: tenant.confidential.clientId, secret: wrongSecret });
    await expectOAuthError(response, 401, 'invalid_client');
    const [event] = await failures(`loginaudit-${tenant.confidential.clientId}`);
    assert.ok(event, 'a client.authentication.failed event');
    assert.deepEqual(
      { ...data(event), sourceAddress: undefined },
      {
        clientId: tenant.confidential.clientId,
        organizationId: tenant.organizationId,
        endpoint: 'token',
        reason: 'wrong_secret',
        method: 'client_secret_basic',
        sourceAddress: undefined,
        suppressed: 0,
      },
    );
    assert.match(String(data(event).sourceAddress), /127\.0\.0\.1/);
    assert.deepEqual(attribute(event).organizationId, tenant.organizationId);
    const everything = JSON.stringify((await server.service.stores.events.readAll()).map(({ data, metadata }) => ({ data, metadata })));
    assert.ok(!everything.includes(wrongSecret), 'the secret tried is nowhere in the log');
    assert.ok(!everything.includes(tenant.confidential.clientSecret), 'nor the real one');
  });

  test('a flood of wrong secrets from one address writes one event; the flush carries the rest', async () => {
    await freshWindows();
    const before = (await failures(`loginaudit-${tenant.confidential.clientId}`)).length;
    const attempts = 200;
    await Promise.all(
      Array.from({ length: attempts }, async () => {
        const response = await post('/oauth2/v2/token', { grant_type: 'client_credentials', client_id: tenant.confidential.clientId, client_secret: wrongSecret });
        assert.equal(response.status, 401);
        await response.arrayBuffer();
      }),
    );
    const during = (await failures(`loginaudit-${tenant.confidential.clientId}`)).slice(before);
    assert.equal(during.length, 1);
    assert.equal(data(during[0]!).method, 'client_secret_post');
    await server.service.denials.flush(true);
    const all = (await failures(`loginaudit-${tenant.confidential.clientId}`)).slice(before);
    assert.equal(all.length, 2);
    assert.deepEqual([data(all[1]!).flush, data(all[1]!).suppressed], [true, attempts - 1]);
  });

  test('an unknown client goes to the platform stream with the id it presented; a malformed header too', async () => {
    await freshWindows();
    const made = `made-up-${Date.now()}`;
    await expectOAuthError(await tokenRequest(server, { grant_type: 'client_credentials' }, { clientId: made, secret: wrongSecret }), 401, 'invalid_client');
    await expectOAuthError(await post('/oauth2/v2/token', { grant_type: 'client_credentials' }, { authorization: 'Basic !!!' }), 401, 'invalid_client');
    const platform = await failures('loginaudit-platform');
    const unknown = platform.find((event) => data(event).clientId === made);
    assert.ok(unknown);
    assert.deepEqual([data(unknown).reason, data(unknown).organizationId], ['unknown_client', undefined]);
    assert.equal(attribute(unknown).organizationId, null);
    assert.ok(platform.some((event) => data(event).reason === 'malformed_credentials'));
  });

  test('introspection and revocation record their rejections too, with the endpoint', async () => {
    await freshWindows();
    const tokens = await signIn(server, tenant);
    const wrong = { authorization: basicAuthorization(tenant.confidential.clientId, wrongSecret) };
    assert.equal((await post('/oauth2/v2/introspect', { token: tokens.access_token }, wrong)).status, 401);
    await freshWindows();
    assert.equal((await post('/oauth2/v2/revoke', { token: tokens.refresh_token! }, wrong)).status, 401);
    const events = await failures(`loginaudit-${tenant.confidential.clientId}`);
    const endpoints = events.filter((event) => !data(event).flush).map((event) => data(event).endpoint);
    assert.ok(endpoints.includes('introspection'), JSON.stringify(endpoints));
    assert.ok(endpoints.includes('revocation'), JSON.stringify(endpoints));
    // A confidential client that sends no secret at the introspection endpoint.
    await freshWindows();
    assert.equal((await post('/oauth2/v2/introspect', { token: tokens.access_token, client_id: tenant.confidential.clientId })).status, 401);
    const last = (await failures(`loginaudit-${tenant.confidential.clientId}`)).at(-1)!;
    assert.deepEqual([data(last).reason, data(last).method, data(last).endpoint], ['authentication_required', 'none', 'introspection']);
  });

  test('a certificate client without a certificate that proves it: certificate_not_accepted', async () => {
    await freshWindows();
    const cert = await selfSigned({ subject: 'CN=robot, O=Tests' });
    const response = await server.api(`/api/v1/organizations/${tenant.organizationId}/applications`, {
      method: 'POST',
      json: {
        metadata: { name: 'robot' },
        spec: { grantTypes: ['client_credentials'], public: false, groupIDs: [], tokenEndpointAuthMethod: 'self_signed_tls_client_auth', jwks: { keys: [cert.publicJwk] } },
      },
    });
    assert.equal(response.status, 201, await response.clone().text());
    const clientId = ((await response.json()) as { metadata: { id: string } }).metadata.id;
    await expectOAuthError(await post('/oauth2/v2/token', { grant_type: 'client_credentials', client_id: clientId }), 401, 'invalid_client');
    const [event] = await failures(`loginaudit-${clientId}`);
    assert.ok(event);
    assert.deepEqual([data(event).reason, data(event).method, data(event).organizationId], ['certificate_not_accepted', 'none', tenant.organizationId]);
  });

  test('a successful client authentication records nothing', async () => {
    await freshWindows();
    const before = (await failures(`loginaudit-${tenant.confidential.clientId}`)).length;
    const ok = await tokenRequest(server, { grant_type: 'client_credentials' }, { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret });
    assert.equal(ok.status, 200);
    assert.equal((await failures(`loginaudit-${tenant.confidential.clientId}`)).length, before);
  });
});
