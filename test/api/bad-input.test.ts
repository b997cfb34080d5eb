import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { createTenant, type Tenant } from '../support/oidc.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server.js';

/** A raw HTTP exchange, for what fetch will not send (a broken gzip body, a 20 KB URL). */
function raw(server: TestServer, options: { method: string; path: string; headers?: Record<string, string>; body?: Buffer | string }) {
  const url = new URL(server.baseUrl);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: options.method, path: options.path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const errorOf = (body: string) => JSON.parse(body) as { error: string; error_description: string };

/** Nested arrays `depth` deep, as JSON text, built without recursion. */
const nested = (depth: number) => `{"spec":{"x":${'['.repeat(depth)}${']'.repeat(depth)}}}`;

describe('bad input never gets a 500', () => {
  let server: TestServer;
  let tenant: Tenant;
  let appPath: string;

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
    appPath = `/api/v1/organizations/${tenant.organizationId}/applications/${tenant.confidential.clientId}`;
  });
  after(() => server.close());

  test('a deeply nested JSON body is a 400 naming the depth limit, on a merge patch too', async () => {
    for (const method of ['PATCH', 'PUT', 'POST']) {
      const response = await raw(server, {
        method,
        path: appPath,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' },
        body: nested(100_000),
      });
      assert.equal(response.status, 400, `${method}: ${response.body}`);
      assert.match(errorOf(response.body).error_description, /nested deeper than 32/);
    }
  });

  test('PATCH accepts application/merge-patch+json', async () => {
    const response = await server.api(appPath, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { description: 'patched as merge-patch+json' } }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(((await response.json()) as { metadata: { description: string } }).metadata.description, 'patched as merge-patch+json');
  });

  test('a Content-Encoding that does not decompress is a 400, an unknown one a 415, both before authentication', async () => {
    for (const encoding of ['gzip', 'deflate', 'br']) {
      for (const path of [appPath, '/oauth2/v2/token', '/api/v1/organizations']) {
        const response = await raw(server, {
          method: 'POST',
          path,
          headers: { 'content-type': path.startsWith('/oauth2') ? 'application/x-www-form-urlencoded' : 'application/json', 'content-encoding': encoding },
          body: 'this is not compressed at all',
        });
        assert.equal(response.status, 400, `${encoding} ${path}: ${response.body}`);
        assert.equal(errorOf(response.body).error, 'invalid_request');
        assert.match(errorOf(response.body).error_description, /could not be decompressed/);
      }
    }
    const unknown = await raw(server, {
      method: 'POST',
      path: '/api/v1/organizations',
      headers: { 'content-type': 'application/json', 'content-encoding': 'zstd' },
      body: '{}',
    });
    assert.equal(unknown.status, 415, unknown.body);
    assert.equal(errorOf(unknown.body).error, 'unsupported_media_type');
    // A real gzip body is read as any other (and then the missing token is what stops it).
    const gzipped = await raw(server, {
      method: 'POST',
      path: '/api/v1/organizations',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync('{"metadata":{"name":"x"}}'),
    });
    assert.equal(gzipped.status, 401, gzipped.body);
  });

  test('a URL over the header limit gets 431 with a JSON error body', async () => {
    const response = await raw(server, { method: 'GET', path: `/api/v1/organizations?search=${'a'.repeat(20_000)}` });
    assert.equal(response.status, 431);
    assert.equal(response.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(errorOf(response.body).error, 'invalid_request');
  });

  test('every response says nosniff, a 404 that names the path among them', async () => {
    for (const path of ['/no/such/<script>alert(1)</script>', '/healthz', '/api/v1/organizations', '/.well-known/openid-configuration']) {
      const response = await server.api(path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
    }
  });

  test('an error body stays small, however many unknown keys the request had', async () => {
    const body: Record<string, string> = {};
    for (let i = 0; i < 20_000; i += 1) body[`unknown-key-${i}-${'k'.repeat(20)}`] = 'v';
    const response = await server.api(`/api/v1/organizations/${tenant.organizationId}/applications`, {
      method: 'POST',
      json: { metadata: { name: 'many-keys' }, spec: { redirectURIs: [], groupIDs: [], ...body } },
    });
    assert.equal(response.status, 400);
    const text = await response.text();
    assert.ok(text.length < 4096, `error body of ${text.length} bytes`);
    assert.match(errorOf(text).error_description, /more/);
  });

  test('offset and limit are plain decimal integers', async () => {
    for (const query of ['offset=0x10', 'offset=1e1', 'offset=%2010', 'limit=0b11', 'limit=1.0', 'offset=-0', 'limit=']) {
      const response = await server.api(`/api/v1/organizations?${query}`);
      assert.equal(response.status, 400, query);
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
    }
    assert.equal((await server.api('/api/v1/organizations?offset=0&limit=10')).status, 200);
  });

  test('text fields refuse control and bidirectional-override characters, naming the field', async () => {
    const cases: [string, string][] = [
      ['nul', 'ev\u0000il'],
      ['escape', 'ev\u001bil'],
      ['c1', 'ev\u0085il'],
      ['right-to-left override', 'ev\u202eil'],
      ['isolate', 'ev\u2066il'],
      ['lone surrogate', 'ev\ud800il'],
    ];
    for (const [what, description] of cases) {
      const response = await server.api(appPath, { method: 'PATCH', json: { metadata: { description } } });
      assert.equal(response.status, 400, what);
      assert.match(errorOf(await response.text()).error_description, /metadata\.description/, what);
    }
    // Keys are text too.
    const key = await server.api(appPath, { method: 'PATCH', json: { metadata: { ['a\u202eb']: 'x' } } });
    assert.equal(key.status, 400);
    // Tabs and new lines are fine in a description.
    const fine = await server.api(appPath, { method: 'PATCH', json: { metadata: { description: 'line one\nline\ttwo' } } });
    assert.equal(fine.status, 200, await fine.clone().text());
    // Form bodies are checked too, before any client authentication.
    const form = await fetch(`${server.baseUrl}/oauth2/v2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'a\u0000b' }),
    });
    assert.equal(form.status, 400);
    assert.match(errorOf(await form.text()).error_description, /client_id/);
  });

  test('an identity provider issuer must be https and must not point inside the network', async () => {
    const providers = `/api/v1/organizations/${tenant.organizationId}/oauth2providers`;
    const refused = [
      'http://idp.example.com',
      'https://169.254.169.254/latest/meta-data',
      'https://127.0.0.1:8443',
      'https://localhost',
      'https://10.1.2.3',
      'https://192.168.0.10',
      'https://[::1]/',
      'https://[fd00::1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://0x7f000001/',
    ];
    for (const issuer of refused) {
      const response = await server.api(providers, {
        method: 'POST',
        json: { metadata: { name: 'idp' }, spec: { issuer, clientID: 'client', clientSecret: 'secret' } },
      });
      assert.equal(response.status, 400, `${issuer}: ${response.status}`);
      assert.match(errorOf(await response.text()).error_description, /issuer/, issuer);
    }
    const ok = await server.api(providers, {
      method: 'POST',
      json: { metadata: { name: 'idp-ok' }, spec: { issuer: 'https://login.example.com/tenant', clientID: 'client', clientSecret: 'secret' } },
    });
    assert.equal(ok.status, 201, await ok.clone().text());
  });
});

describe('private-network issuers, when a setting allows them', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { IDENTITY_PROVIDER_ALLOW_PRIVATE_NETWORKS: 'true' } });
  });
  after(() => server.close());

  test('an on-premises identity provider at a private address is accepted; plain http still is not', async () => {
    const tenant = await createTenant(server);
    const providers = `/api/v1/organizations/${tenant.organizationId}/oauth2providers`;
    const post = (issuer: string) =>
      server.api(providers, { method: 'POST', json: { metadata: { name: `idp-${issuer.length}` }, spec: { issuer, clientID: 'c', clientSecret: 's' } } });
    assert.equal((await post('https://10.1.2.3/realms/corp')).status, 201);
    assert.equal((await post('http://10.1.2.3/realms/corp')).status, 400);
  });
});
