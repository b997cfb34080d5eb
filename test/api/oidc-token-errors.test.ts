import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  authorize,
  type AuthorizedCode,
  createTenant,
  expectOAuthError,
  signIn,
  type Tenant,
  tokenRequest,
} from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('token endpoint errors (RFC 6749 5.2)', () => {
  let server: TestServer;
  let tenant: Tenant;
  let secret: { clientId: string; secret: string };
  /** A confidential client allowed the authorization code grant only. */
  let codeOnly: { clientId: string; secret: string };

  const token = (form: Record<string, string>, basic?: { clientId: string; secret: string }) => tokenRequest(server, form, basic);
  const raw = (init: { body?: string; contentType?: string; authorization?: string; method?: string }) =>
    fetch(`${server.baseUrl}/oauth2/v2/token`, {
      method: init.method ?? 'POST',
      headers: { ...(init.contentType && { 'content-type': init.contentType }), ...(init.authorization && { authorization: init.authorization }) },
      ...(init.body !== undefined && { body: init.body }),
    });
  const newCode = (): Promise<AuthorizedCode> =>
    authorize(server, { clientId: tenant.confidential.clientId, redirectUri: tenant.redirectUri, email: tenant.email, password: tenant.password });

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
    secret = { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret };
    const response = await server.api(`/api/v1/organizations/${tenant.organizationId}/applications`, {
      method: 'POST',
      json: { metadata: { name: 'code-only' }, spec: { redirectURIs: [tenant.redirectUri], grantTypes: ['authorization_code'], public: false, groupIDs: [] } },
    });
    assert.equal(response.status, 201);
    const app = (await response.json()) as { metadata: { id: string }; status: { clientSecret: string } };
    codeOnly = { clientId: app.metadata.id, secret: app.status.clientSecret };
  });
  after(async () => server.close());

  test('grant_type: missing is invalid_request, unknown is unsupported_grant_type', async () => {
    await expectOAuthError(await token({}, secret), 400, 'invalid_request');
    await expectOAuthError(await token({ grant_type: 'password', username: 'a', password: 'b' }, secret), 400, 'unsupported_grant_type');
    await expectOAuthError(await token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code' }, secret), 400, 'unsupported_grant_type');
  });

  test('client authentication: a wrong secret or an unknown client is 401 invalid_client, with a Basic challenge when Basic was used', async () => {
    const wrongBasic = await token({ grant_type: 'client_credentials' }, { clientId: secret.clientId, secret: 'wrong' });
    await expectOAuthError(wrongBasic, 401, 'invalid_client');
    assert.match(wrongBasic.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]+"/);

    const unknownBasic = await token({ grant_type: 'client_credentials' }, { clientId: 'no-such-client', secret: 'whatever' });
    await expectOAuthError(unknownBasic, 401, 'invalid_client');
    assert.match(unknownBasic.headers.get('www-authenticate') ?? '', /^Basic /);

    const malformedBasic = await raw({ body: 'grant_type=client_credentials', contentType: 'application/x-www-form-urlencoded', authorization: 'Basic !!!' });
    await expectOAuthError(malformedBasic, 401, 'invalid_client');
    assert.match(malformedBasic.headers.get('www-authenticate') ?? '', /^Basic /);

    await expectOAuthError(await token({ grant_type: 'client_credentials', client_id: secret.clientId, client_secret: 'wrong' }), 401, 'invalid_client');
    await expectOAuthError(await token({ grant_type: 'client_credentials', client_id: 'no-such-client', client_secret: 'x' }), 401, 'invalid_client');
    // No authentication at all.
    await expectOAuthError(await token({ grant_type: 'client_credentials' }), 401, 'invalid_client');
    // A confidential client that leaves its secret out.
    await expectOAuthError(await token({ grant_type: 'authorization_code', client_id: secret.clientId, code: 'x', code_verifier: 'y'.repeat(43) }), 401, 'invalid_client');
    // Two methods at once.
    await expectOAuthError(await token({ grant_type: 'client_credentials', client_secret: secret.secret }, secret), 400, 'invalid_request');
  });

  test('a public client may not use client credentials; a client may use only its own grants', async () => {
    await expectOAuthError(await token({ grant_type: 'client_credentials', client_id: tenant.publicClientId }), 401, 'invalid_client');
    await expectOAuthError(await token({ grant_type: 'client_credentials' }, codeOnly), 400, 'unauthorized_client');
    await expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: 'x' }, codeOnly), 400, 'unauthorized_client');
    await expectOAuthError(await token({ grant_type: 'client_credentials', scope: 'openid' }, secret), 400, 'invalid_scope');
  });

  test('authorization code: missing parts are invalid_request; a wrong code, redirect_uri or verifier is invalid_grant', async () => {
    const code = await newCode();
    const good = { grant_type: 'authorization_code', code: code.code, redirect_uri: tenant.redirectUri, code_verifier: code.verifier };
    await expectOAuthError(await token({ ...good, code: '' }, secret), 400, 'invalid_request');
    const { code_verifier: _verifier, ...noVerifier } = good;
    await expectOAuthError(await token(noVerifier, secret), 400, 'invalid_request');
    await expectOAuthError(await token({ ...good, code: 'not-a-code' }, secret), 400, 'invalid_grant');
    await expectOAuthError(await token({ ...good, redirect_uri: 'http://127.0.0.1:9/elsewhere' }, secret), 400, 'invalid_grant');
    const { redirect_uri: _uri, ...noRedirect } = good;
    await expectOAuthError(await token(noRedirect, secret), 400, 'invalid_grant');
    await expectOAuthError(await token({ ...good, code_verifier: 'a'.repeat(43) }, secret), 400, 'invalid_grant');
    await expectOAuthError(await token({ ...good, code_verifier: 'short' }, secret), 400, 'invalid_grant');
    // Another client cannot redeem it.
    await expectOAuthError(await token({ ...good, client_id: tenant.publicClientId }), 400, 'invalid_grant');
    // None of these used the code up: the right request still works, once.
    const ok = await token(good, secret);
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.match(ok.headers.get('cache-control') ?? '', /no-store/);
    await expectOAuthError(await token(good, secret), 400, 'invalid_grant');
  });

  test('refresh: missing is invalid_request; garbage, or another client\'s token, is invalid_grant; no widening of scope', async () => {
    await expectOAuthError(await token({ grant_type: 'refresh_token' }, secret), 400, 'invalid_request');
    await expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: 'garbage' }, secret), 400, 'invalid_grant');
    await expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: 'rt1.c2Vzc2lvbi14.0.abc' }, secret), 400, 'invalid_grant');
    const tokens = await signIn(server, tenant, 'openid email');
    assert.equal(tokens.refresh_token, undefined, 'no offline_access, no refresh token');
    const withRefresh = await signIn(server, tenant);
    await expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: withRefresh.refresh_token!, client_id: tenant.publicClientId }), 400, 'invalid_grant');
    await expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: withRefresh.refresh_token!, scope: 'openid admin' }, secret), 400, 'invalid_scope');
    // A narrower scope is fine, and the refusals above did not use the token up.
    const narrower = await token({ grant_type: 'refresh_token', refresh_token: withRefresh.refresh_token!, scope: 'openid' }, secret);
    assert.equal(narrower.status, 200, await narrower.clone().text());
    assert.equal(((await narrower.json()) as { scope: string }).scope, 'openid');
  });

  test('malformed requests get a 4xx OAuth error body, never a 500', async () => {
    const form = 'application/x-www-form-urlencoded';
    const cases: Array<[string, Parameters<typeof raw>[0]]> = [
      ['no body', {}],
      ['an empty form', { body: '', contentType: form }],
      ['plain text', { body: 'grant_type=client_credentials', contentType: 'text/plain' }],
      ['JSON that is not an object', { body: '[1,2]', contentType: 'application/json' }],
      ['broken JSON', { body: '{"grant_type":', contentType: 'application/json' }],
      ['a repeated parameter', { body: 'grant_type=client_credentials&grant_type=refresh_token', contentType: form }],
      ['a parameter far too long', { body: `grant_type=${'x'.repeat(10_000)}`, contentType: form }],
      ['too many parameters', { body: Array.from({ length: 150 }, (_, i) => `p${i}=1`).join('&'), contentType: form }],
      ['bad percent-encoding', { body: 'grant_type=%zz&code=%', contentType: form }],
      ['a bad charset', { body: 'grant_type=x', contentType: `${form}; charset=klingon` }],
      ['a Bearer header', { body: 'grant_type=client_credentials', contentType: form, authorization: 'Bearer abc' }],
      ['Basic without a colon', { body: 'grant_type=client_credentials', contentType: form, authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` }],
      ['Basic with bad percent-encoding', { body: 'grant_type=client_credentials', contentType: form, authorization: `Basic ${Buffer.from('%zz:%').toString('base64')}` }],
      ['a huge body', { body: `code=${'x'.repeat(1_100_000)}`, contentType: form }],
    ];
    for (const [name, init] of cases) {
      const response = await raw(init);
      const text = await response.text();
      assert.ok(response.status >= 400 && response.status < 500, `${name}: ${response.status} ${text}`);
      const body = JSON.parse(text) as { error: string; error_description: string };
      assert.ok(body.error && body.error_description, `${name}: ${text}`);
      assert.match(response.headers.get('cache-control') ?? '', /no-store/, name);
    }
    const get = await raw({ method: 'GET' });
    assert.ok(get.status >= 400 && get.status < 500, `GET: ${get.status}`);
  });

  test('a successful answer is not cacheable either', async () => {
    const response = await token({ grant_type: 'client_credentials' }, secret);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('cache-control') ?? '', /no-store/);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body.token_type, 'Bearer');
    assert.equal(typeof body.expires_in, 'number');
  });
});
