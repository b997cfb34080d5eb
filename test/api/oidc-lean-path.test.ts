import assert from 'node:assert/strict';
import { createServer as createPlainServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { basicAuthorization, createTenant, expectOAuthError, signIn, type Tenant, type Tokens, tokenRequest, userinfoRequest } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdefghijklmnopqrstuvwxyz';
const FORM = 'application/x-www-form-urlencoded';

/**
 * What userinfo, introspection and the token endpoint answer besides their
 * bodies: headers, error bodies, limits, the request log and the metrics.
 * Written against the express stack, then kept green by the lean path in
 * front of it (src/api/oidc/lean-path.ts): the two must not differ.
 */
describe('token hot path: headers, errors, limits, log lines and metrics', () => {
  let server: TestServer;
  let tenant: Tenant;
  let tokens: Tokens;
  let basic: string;

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': FORM, ...headers }, body });
  const introspect = (token: string, authorization = basic) => post('/oauth2/v2/introspect', new URLSearchParams({ token }).toString(), { authorization });
  /** The request log line of the request with this id. */
  const logLine = (requestId: string): Record<string, any> => {
    const line = server.logs.map((text) => JSON.parse(text) as Record<string, any>).find((entry) => entry.req?.id === requestId && entry.res !== undefined);
    assert.ok(line, `no request log line for ${requestId}`);
    return line;
  };
  const expectCommonHeaders = (response: Response, json = true) => {
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.match(response.headers.get('cache-control') ?? '', /no-store/);
    assert.equal(response.headers.get('x-powered-by'), null);
    assert.equal(response.headers.get('etag'), null);
    if (json) assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
  };

  before(async () => {
    server = await startTestServer({ env: { METRICS_TOKEN } });
    tenant = await createTenant(server);
    tokens = await signIn(server, tenant);
    basic = basicAuthorization(tenant.confidential.clientId, tenant.confidential.clientSecret);
  });
  after(async () => server.close());

  test('userinfo: 200 with no-store, nosniff, a request id and an exact content length', async () => {
    const response = await userinfoRequest(server, tokens.access_token);
    const text = await response.text();
    assert.equal(response.status, 200, text);
    expectCommonHeaders(response);
    assert.equal(response.headers.get('pragma'), 'no-cache');
    assert.equal(response.headers.get('content-length'), String(Buffer.byteLength(text)));
    assert.deepEqual(Object.keys(JSON.parse(text)).sort(), ['email', 'email_verified', 'name', 'preferred_username', 'sub']);
  });

  test('userinfo: a sane X-Request-Id is echoed, an unsafe one replaced', async () => {
    const sane = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}`, 'x-request-id': 'trace.abc-123' } });
    assert.equal(sane.status, 200);
    assert.equal(sane.headers.get('x-request-id'), 'trace.abc-123');
    const unsafe = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}`, 'x-request-id': 'a b<script>' } });
    assert.equal(unsafe.status, 200);
    assert.match(unsafe.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  test('userinfo: no token, a forged token and a malformed header are 401 with the RFC 6750 challenge', async () => {
    const none = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`);
    expectCommonHeaders(none);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="oauth2"');
    assert.equal((await expectOAuthError(none, 401, 'access_denied')).error_description, 'send an access token');
    const forged = await userinfoRequest(server, `${tokens.access_token.slice(0, -4)}AAAA`);
    assert.equal(forged.headers.get('www-authenticate'), 'Bearer realm="oauth2", error="invalid_token"');
    await expectOAuthError(forged, 401, 'access_denied');
    const malformed = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { headers: { authorization: 'Bearer two words' } });
    assert.equal(malformed.headers.get('www-authenticate'), 'Bearer realm="oauth2"');
    await expectOAuthError(malformed, 401, 'access_denied');
  });

  test('userinfo: POST with the token in a form, and with only the header and no body', async () => {
    const form = await post('/oauth2/v2/userinfo', new URLSearchParams({ access_token: tokens.access_token }).toString());
    assert.equal(form.status, 200, await form.clone().text());
    expectCommonHeaders(form);
    const header = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(header.status, 200, await header.clone().text());
  });

  test('introspection: active with its claims; inactive for garbage; no-store on both', async () => {
    const active = await introspect(tokens.access_token);
    expectCommonHeaders(active);
    const body = (await active.json()) as Record<string, unknown>;
    assert.equal(body.active, true);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.client_id, tenant.confidential.clientId);
    const garbage = await introspect('not-a-token');
    expectCommonHeaders(garbage);
    assert.deepEqual(await garbage.json(), { active: false });
  });

  test('introspection: a wrong secret is 401 invalid_client with a Basic challenge; a missing token is 400', async () => {
    const wrong = await introspect(tokens.access_token, basicAuthorization(tenant.confidential.clientId, 'wrong-secret'));
    expectCommonHeaders(wrong);
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic realm="oauth2"/);
    await expectOAuthError(wrong, 401, 'invalid_client');
    await expectOAuthError(await post('/oauth2/v2/introspect', '', { authorization: basic }), 400, 'invalid_request');
    // client_secret_post works as well, and two methods at once do not.
    const posted = await post(
      '/oauth2/v2/introspect',
      new URLSearchParams({ token: tokens.access_token, client_id: tenant.confidential.clientId, client_secret: tenant.confidential.clientSecret }).toString(),
    );
    assert.equal(((await posted.json()) as { active: boolean }).active, true);
    const both = await post('/oauth2/v2/introspect', new URLSearchParams({ token: tokens.access_token, client_secret: 'x' }).toString(), { authorization: basic });
    await expectOAuthError(both, 400, 'invalid_request');
  });

  test('token: client credentials answer no-store with the log position of the new generation', async () => {
    const response = await tokenRequest(server, { grant_type: 'client_credentials' }, { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret });
    const text = await response.text();
    assert.equal(response.status, 200, text);
    expectCommonHeaders(response);
    assert.equal(response.headers.get('pragma'), 'no-cache');
    assert.match(response.headers.get('x-log-position') ?? '', /^\d+\/\d+$/);
    const body = JSON.parse(text) as Record<string, unknown>;
    assert.equal(body.token_type, 'Bearer');
    assert.equal(typeof body.access_token, 'string');
  });

  test('token: X-Min-Log-Position is honoured (a bad value is a 400, a reached one answers)', async () => {
    const bad = await post('/oauth2/v2/token', 'grant_type=client_credentials', { authorization: basic, 'x-min-log-position': 'nope' });
    await expectOAuthError(bad, 400, 'invalid_request');
    const first = await post('/oauth2/v2/token', 'grant_type=client_credentials', { authorization: basic });
    const position = first.headers.get('x-log-position');
    if (position !== null) {
      const again = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}`, 'x-min-log-position': position } });
      assert.equal(again.status, 200);
    }
    const far = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}`, 'x-min-log-position': '99999999/99999999' } });
    await expectOAuthError(far, 400, 'invalid_request');
  });

  test('token: bad forms are 4xx with the OAuth error body, never a 500', async () => {
    await expectOAuthError(await post('/oauth2/v2/token', '', { authorization: basic }), 400, 'invalid_request');
    await expectOAuthError(await post('/oauth2/v2/token', 'grant_type=password', { authorization: basic }), 400, 'unsupported_grant_type');
    // A repeated field is two values, not one.
    await expectOAuthError(await post('/oauth2/v2/token', 'grant_type=client_credentials&grant_type=client_credentials', { authorization: basic }), 400, 'invalid_request');
    // Brackets are not nesting in these forms.
    await expectOAuthError(await post('/oauth2/v2/token', 'grant_type[x]=client_credentials', { authorization: basic }), 400, 'invalid_request');
    // Control characters are refused before any authentication.
    await expectOAuthError(await post('/oauth2/v2/token', 'grant_type=client%00credentials', { authorization: basic }), 400, 'invalid_request');
    // Too long a field.
    await expectOAuthError(await post('/oauth2/v2/token', `grant_type=client_credentials&scope=${'a'.repeat(5000)}`, { authorization: basic }), 400, 'invalid_request');
  });

  test('token: limits: 101 parameters and a body over 1 MB are 413, an unknown Content-Encoding 415, a charset we cannot read 415', async () => {
    const many = Array.from({ length: 101 }, (_, i) => `p${i}=1`).join('&');
    expectCommonHeaders(await post('/oauth2/v2/token', many, { authorization: basic }));
    await expectOAuthError(await post('/oauth2/v2/token', many, { authorization: basic }), 413, 'invalid_request');
    const big = `grant_type=client_credentials&x=${'a'.repeat(1024 * 1024 + 1)}`;
    await expectOAuthError(await post('/oauth2/v2/token', big, { authorization: basic }), 413, 'invalid_request');
    await expectOAuthError(await post('/oauth2/v2/token', 'grant_type=client_credentials', { authorization: basic, 'content-encoding': 'compress' }), 415, 'unsupported_media_type');
    await expectOAuthError(await post('/oauth2/v2/token', 'grant_type=client_credentials', { authorization: basic, 'content-type': `${FORM}; charset=koi8-r` }), 415, 'unsupported_media_type');
  });

  test('token: the form with a charset parameter and a JSON body are read as before', async () => {
    const charset = await post('/oauth2/v2/token', 'grant_type=client_credentials', { authorization: basic, 'content-type': `${FORM}; charset=UTF-8` });
    assert.equal(charset.status, 200, await charset.clone().text());
    const json = await fetch(`${server.baseUrl}/oauth2/v2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic },
      body: JSON.stringify({ grant_type: 'client_credentials' }),
    });
    assert.equal(json.status, 200, await json.clone().text());
    // A form whose type is not declared is no form: nothing was sent.
    await expectOAuthError(await fetch(`${server.baseUrl}/oauth2/v2/token`, { method: 'POST', headers: { authorization: basic, 'content-type': 'text/plain' }, body: 'grant_type=client_credentials' }), 400, 'invalid_request');
  });

  test('the request log: one line per request, same fields, credentials redacted, no body', async () => {
    const ok = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}`, 'x-request-id': 'log-ok-1' } });
    assert.equal(ok.status, 200);
    const denied = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { headers: { 'x-request-id': 'log-denied-1' } });
    assert.equal(denied.status, 401);
    const issued = await post('/oauth2/v2/token', 'grant_type=client_credentials', { authorization: basic, 'x-request-id': 'log-token-1' });
    const issuedBody = (await issued.json()) as { access_token: string };
    const inspected = await introspect(issuedBody.access_token);
    const introspectionId = inspected.headers.get('x-request-id')!;
    await new Promise((resolve) => setTimeout(resolve, 50));

    const line = logLine('log-ok-1');
    assert.equal(line.level, 30);
    assert.equal(line.msg, 'request completed');
    assert.equal(line.req.method, 'GET');
    assert.equal(line.req.url, '/oauth2/v2/userinfo');
    assert.equal(line.req.headers.authorization, '[redacted]');
    assert.equal(typeof line.req.remoteAddress, 'string');
    assert.equal(typeof line.req.remotePort, 'number');
    assert.equal(line.res.statusCode, 200);
    assert.equal(line.res.headers['x-request-id'], 'log-ok-1');
    assert.equal(line.res.headers['cache-control'], 'no-store');
    assert.equal(typeof line.responseTime, 'number');
    assert.equal(logLine('log-denied-1').level, 40);
    assert.equal(logLine('log-denied-1').res.statusCode, 401);
    const token = logLine('log-token-1');
    assert.equal(token.req.method, 'POST');
    assert.equal(token.req.url, '/oauth2/v2/token');
    assert.equal(token.req.headers.authorization, '[redacted]');
    assert.equal(token.req.body, undefined);
    assert.equal(logLine(introspectionId).res.statusCode, 200);
    // Exactly one line for the request.
    assert.equal(server.logs.filter((text) => text.includes('"log-token-1"')).length, 1);
    const all = server.logs.join('\n');
    for (const secret of [tokens.access_token, issuedBody.access_token, tenant.confidential.clientSecret, basic.slice('Basic '.length)]) {
      assert.ok(!all.includes(secret), 'a token or a secret is in the log');
    }
  });

  test('metrics: latency by route pattern, token requests by grant and outcome', async () => {
    await userinfoRequest(server, tokens.access_token);
    await introspect(tokens.access_token);
    await post('/oauth2/v2/token', 'grant_type=password', { authorization: basic });
    const response = await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const text = await response.text();
    assert.match(text, /identity_http_request_duration_seconds_count\{method="GET",route="\/oauth2\/v2\/userinfo",status="200"\} [1-9]/);
    assert.match(text, /identity_http_request_duration_seconds_count\{method="POST",route="\/oauth2\/v2\/introspect",status="200"\} [1-9]/);
    assert.match(text, /identity_http_request_duration_seconds_count\{method="POST",route="\/oauth2\/v2\/token",status="200"\} [1-9]/);
    assert.match(text, /identity_token_requests_total\{grant_type="client_credentials",outcome="issued"\} [1-9]/);
    assert.match(text, /identity_token_requests_total\{grant_type="other",outcome="unsupported_grant_type"\} [1-9]/);
  });

  test('the answers keep to the response schemas the OpenAPI document publishes (they are no longer parsed on each answer)', async () => {
    const document = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as { components: { schemas: Record<string, { properties: Record<string, { type?: unknown }>; required?: string[] }> } };
    const conforms = (name: string, body: Record<string, unknown>) => {
      const schema = document.components.schemas[name]!;
      for (const key of Object.keys(body)) assert.ok(key in schema.properties, `${name}: ${key} is not documented`);
      for (const key of schema.required ?? []) assert.ok(key in body, `${name}: ${key} is missing`);
    };
    const issued = await post('/oauth2/v2/token', 'grant_type=client_credentials', { authorization: basic });
    conforms('token', (await issued.json()) as Record<string, unknown>);
    conforms('token', tokens as unknown as Record<string, unknown>);
    conforms('userinfo', (await (await userinfoRequest(server, tokens.access_token)).json()) as Record<string, unknown>);
    const refreshed = await post('/oauth2/v2/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }).toString(), { authorization: basic });
    assert.equal(refreshed.status, 200);
    const rotated = (await refreshed.json()) as Tokens;
    conforms('token', rotated as unknown as Record<string, unknown>);
    tokens = rotated;
  });

  test('a server made without the classes the app declares (http.createServer(app)) serves the lean routes and the others the same', async () => {
    // The test server is made by createServer (src/infra/tls/server.ts): its requests are born with the lean path's
    // prototypes. A server made elsewhere hands plain ones, which the lean path and express give their prototypes.
    const plain: Server = createPlainServer(server.service.app);
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(plain.address() as { port: number }).port}`;
    try {
      const info = await fetch(`${base}/oauth2/v2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}`, 'x-request-id': 'plain-server-1' } });
      assert.equal(info.status, 200, await info.clone().text());
      assert.equal(info.headers.get('x-request-id'), 'plain-server-1');
      assert.equal(info.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(info.headers.get('cache-control'), 'no-store');
      assert.equal(info.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(((await info.json()) as { sub: string }).sub, tenant.userId);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(logLine('plain-server-1').msg, 'request completed');
      const inspected = await fetch(`${base}/oauth2/v2/introspect`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic }, body: new URLSearchParams({ token: tokens.access_token }).toString() });
      expectCommonHeaders(inspected);
      assert.equal(((await inspected.json()) as { active: boolean }).active, true);
      const denied = await fetch(`${base}/oauth2/v2/userinfo`);
      assert.equal(denied.headers.get('www-authenticate'), 'Bearer realm="oauth2"');
      await expectOAuthError(denied, 401, 'access_denied');
      // express's routes, on the same keep-alive connections as the lean ones.
      await expectOAuthError(await fetch(`${base}/oauth2/v2/nothing-here`), 404, 'not_found');
      const listed = await fetch(`${base}/api/v1/organizations/${tenant.organizationId}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.notEqual(listed.status, 500);
      const document = await fetch(`${base}/openapi.json`);
      assert.equal(document.status, 200);
      assert.equal(document.headers.get('x-content-type-options'), 'nosniff');
    } finally {
      plain.closeAllConnections();
      await new Promise((resolve) => plain.close(resolve));
    }
  });

  test('express routes on the service\'s own server: the lean path\'s request and response prototypes do not leak into them', async () => {
    // A route express serves gets express's prototypes back: no lean req.query (an empty object whatever the URL).
    const bad = await fetch(`${server.baseUrl}/oauth2/v2/userinfo?asOf=nonsense`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    await expectOAuthError(bad, 400, 'invalid_request');
    // And express's res.json (a lean response writes its own): a 404's body is the JSON error.
    const missing = await fetch(`${server.baseUrl}/api/v1/nothing-here`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('content-type'), 'application/json; charset=utf-8');
  });

  test('everything else still goes through express: a 404 and a wrong method', async () => {
    const missing = await fetch(`${server.baseUrl}/oauth2/v2/nothing-here`);
    await expectOAuthError(missing, 404, 'not_found');
    const put = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { method: 'PUT', headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.ok(put.status === 404 || put.status === 405, String(put.status));
  });
});
