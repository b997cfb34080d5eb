import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { SecretSealer } from '../../src/infra/secrets/sealer.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createOrganization } from '../support/tenants.js';

const SYSTEM_PROVIDERS = [
  { id: 'google', name: 'google', description: 'Sign in with Google', type: 'google', issuer: 'https://accounts.google.com', clientID: 'platform.apps.googleusercontent.com' },
  { id: 'microsoft', name: 'microsoft', type: 'microsoft', issuer: 'https://login.microsoftonline.com/common/v2.0', clientID: 'platform-entra-app' },
];

async function expectStatus(response: Response, status: number, error?: string) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  if (error) {
    const body = (await response.json()) as { error: string; error_description: string };
    assert.equal(body.error, error);
    assert.equal(typeof body.error_description, 'string');
  }
}

const providerBody = (name: string, spec: Record<string, unknown> = {}) => ({
  metadata: { name, description: `${name} provider` },
  spec: { type: 'microsoft', issuer: 'https://login.microsoftonline.com/tenant-1/v2.0', clientID: `${name}-client`, clientSecret: `${name}-SECRET-value-0001`, ...spec },
});

describe('identity providers API', () => {
  let server: TestServer;
  let orgId: string;
  let otherOrgId: string;
  /** Every client secret sent, to check that none was ever written down in clear. */
  const secrets: string[] = [];

  const createOrg = (name: string) => createOrganization(server, name);
  const base = (org = orgId) => `/api/v1/organizations/${org}/oauth2providers`;
  const createProvider = async (name: string, spec: Record<string, unknown> = {}, org = orgId) => {
    const body = providerBody(name, spec);
    if (typeof body.spec.clientSecret === 'string') secrets.push(body.spec.clientSecret);
    const response = await server.api(base(org), { method: 'POST', json: body });
    await expectStatus(response, 201);
    return (await response.json()) as any;
  };
  /** The sealed secret the provider's latest event holds, opened with the key in the data folder. */
  const storedSecret = async (providerId: string) => {
    const [last] = await server.service.stores.events.readStream(`identityprovider-${providerId}`, { direction: 'backwards', maxCount: 1 });
    const sealed = (last!.data as { sealedClientSecret?: string }).sealedClientSecret;
    return sealed === undefined ? undefined : SecretSealer.forDataDir(server.dataDir).open(sealed, `identityprovider:${providerId}`);
  };
  const serviceAccountToken = async () => {
    const response = await server.api(`/api/v1/organizations/${orgId}/serviceaccounts`, { method: 'POST', json: { metadata: { name: `sa-${Date.now()}` } } });
    await expectStatus(response, 201);
    return ((await response.json()) as any).status.accessToken as string;
  };

  before(async () => {
    server = await startTestServer({ env: { OAUTH2_PROVIDERS: JSON.stringify(SYSTEM_PROVIDERS) } });
    orgId = await createOrg('acme');
    otherOrgId = await createOrg('globex');
  });
  after(async () => server.close());

  test('GET /api/v1/oauth2providers lists the configured providers to any signed-in caller', async () => {
    const response = await server.api('/api/v1/oauth2providers');
    await expectStatus(response, 200);
    assert.equal(response.headers.get('x-total-count'), '2');
    const providers = (await response.json()) as any[];
    assert.deepEqual(providers.map((p) => p.metadata.id), ['google', 'microsoft']);
    assert.deepEqual(providers[0].spec, { type: 'google', issuer: 'https://accounts.google.com', clientID: 'platform.apps.googleusercontent.com' });
    assert.equal(providers[0].metadata.description, 'Sign in with Google');
    assert.equal(providers[0].metadata.provisioningStatus, 'provisioned');
    assert.ok(!Number.isNaN(Date.parse(providers[0].metadata.creationTime)));

    // A service account without any role may list them too; nobody unauthenticated may.
    await expectStatus(await server.api('/api/v1/oauth2providers', { token: await serviceAccountToken() }), 200);
    await expectStatus(await server.api('/api/v1/oauth2providers', { token: null }), 401, 'access_denied');

    const filtered = await server.api('/api/v1/oauth2providers?filterBy=type==microsoft');
    assert.deepEqual(((await filtered.json()) as any[]).map((p) => p.metadata.id), ['microsoft']);
    await expectStatus(await server.api('/api/v1/oauth2providers?sortBy=secret'), 400, 'invalid_request');
  });

  test('POST answers 201 without the secret; the event holds it sealed, openable with the key in DATA_DIR', async () => {
    const created = await createProvider('entra');
    assert.equal(created.metadata.name, 'entra');
    assert.equal(created.metadata.organizationId, orgId);
    assert.equal(created.metadata.createdBy, 'platform-administrator');
    assert.deepEqual(created.spec, { type: 'microsoft', issuer: 'https://login.microsoftonline.com/tenant-1/v2.0', clientID: 'entra-client' });
    assert.equal(await storedSecret(created.metadata.id), 'entra-SECRET-value-0001');

    const read = await server.api(`${base()}/${created.metadata.id}`);
    await expectStatus(read, 200);
    assert.deepEqual(await read.json(), created);
    const list = await server.api(base());
    await expectStatus(list, 200);
    const items = (await list.json()) as any[];
    assert.ok(items.some((p) => p.metadata.id === created.metadata.id));
    assert.ok(!JSON.stringify(items).includes('clientSecret') && !JSON.stringify(items).includes('SECRET'));

    const key = statSync(join(server.dataDir, 'secrets-v1.key'));
    assert.equal(key.mode & 0o777, 0o600);
  });

  test('a provider may have no secret', async () => {
    const created = await createProvider('public-client', { clientSecret: undefined, type: undefined });
    assert.deepEqual(created.spec, { issuer: 'https://login.microsoftonline.com/tenant-1/v2.0', clientID: 'public-client-client' });
    assert.equal(await storedSecret(created.metadata.id), undefined);
  });

  test('PUT without clientSecret keeps the current one; with one, replaces it', async () => {
    const created = await createProvider('okta-like', { type: 'google' });
    const path = `${base()}/${created.metadata.id}`;
    const keep = await server.api(path, {
      method: 'PUT',
      json: { metadata: { name: 'okta-like' }, spec: { type: 'google', issuer: 'https://accounts.google.com', clientID: 'new-client' } },
    });
    await expectStatus(keep, 200);
    const kept = (await keep.json()) as any;
    assert.equal(kept.spec.clientID, 'new-client');
    assert.equal(kept.metadata.modifiedBy, 'platform-administrator');
    assert.ok(!('clientSecret' in kept.spec));
    assert.equal(await storedSecret(created.metadata.id), 'okta-like-SECRET-value-0001');

    secrets.push('rotated-SECRET-value-0002');
    const replace = await server.api(path, {
      method: 'PUT',
      json: { metadata: { name: 'okta-like' }, spec: { type: 'google', issuer: 'https://accounts.google.com', clientID: 'new-client', clientSecret: 'rotated-SECRET-value-0002' } },
    });
    await expectStatus(replace, 200);
    assert.ok(!JSON.stringify(await replace.json()).includes('SECRET'));
    assert.equal(await storedSecret(created.metadata.id), 'rotated-SECRET-value-0002');
    assert.deepEqual(((await (await server.api(path)).json()) as any).spec, { type: 'google', issuer: 'https://accounts.google.com', clientID: 'new-client' });
  });

  test('DELETE answers 200; the provider is gone and its name free', async () => {
    const created = await createProvider('short-lived');
    const path = `${base()}/${created.metadata.id}`;
    const response = await server.api(path, { method: 'DELETE' });
    await expectStatus(response, 200);
    await expectStatus(await server.api(path), 404, 'not_found');
    await expectStatus(await server.api(path, { method: 'DELETE' }), 404, 'not_found');
    await expectStatus(await server.api(path, { method: 'PUT', json: providerBody('short-lived') }), 404, 'not_found');
    await createProvider('short-lived');
  });

  test('names are unique within an organization, whatever their case', async () => {
    await createProvider('corp');
    await expectStatus(await server.api(base(), { method: 'POST', json: providerBody('CORP') }), 409, 'conflict');
    await createProvider('corp', {}, otherOrgId);
    const second = await createProvider('corp-2');
    await expectStatus(await server.api(`${base()}/${second.metadata.id}`, { method: 'PUT', json: providerBody('corp') }), 409, 'conflict');
  });

  test("another organization's provider is not found under this one", async () => {
    const foreign = await createProvider('foreign', {}, otherOrgId);
    const path = `${base()}/${foreign.metadata.id}`;
    await expectStatus(await server.api(path), 404, 'not_found');
    await expectStatus(await server.api(path, { method: 'PUT', json: providerBody('hijack', { clientSecret: 'stolen-SECRET-0003' }) }), 404, 'not_found');
    secrets.push('stolen-SECRET-0003');
    await expectStatus(await server.api(path, { method: 'DELETE' }), 404, 'not_found');
    assert.equal(await storedSecret(foreign.metadata.id), 'foreign-SECRET-value-0001');
    assert.ok(!((await (await server.api(base())).json()) as any[]).some((p) => p.metadata.id === foreign.metadata.id));
  });

  test('bad input is a 4xx naming the problem, and nothing is written', async () => {
    const count = async () => Number((await server.api(base())).headers.get('x-total-count'));
    const before = await count();
    const bad = [
      {},
      { metadata: { name: 'x' } },
      providerBody('bad name!'),
      providerBody('x', { issuer: 'not a url' }),
      providerBody('x', { issuer: 'ftp://example.com' }),
      providerBody('x', { type: 'myspace' }),
      providerBody('x', { clientID: '' }),
      providerBody('x', { clientSecret: '' }),
      providerBody('x', { extra: true }),
      { ...providerBody('x'), status: {} },
    ];
    for (const json of bad) await expectStatus(await server.api(base(), { method: 'POST', json }), 400, 'invalid_request');
    await expectStatus(await server.api(`${base()}?filterBy=clientSecret==x`), 400, 'invalid_request');
    await expectStatus(await server.api(base('no-such-org'), { method: 'POST', json: providerBody('x') }), 404, 'not_found');
    assert.equal(await count(), before);
  });

  test('access: a service account needs identity:oauth2providers in its organization', async () => {
    const token = await serviceAccountToken();
    await expectStatus(await server.api(base(), { token }), 403, 'forbidden');
    await expectStatus(await server.api(base(), { method: 'POST', json: providerBody('nope'), token }), 403, 'forbidden');
  });

  test('lists take the list query', async () => {
    for (const name of ['zz-a', 'zz-b', 'zz-c']) await createProvider(name, {}, otherOrgId);
    const page = await server.api(`${base(otherOrgId)}?search=zz-&sortBy=name&sortOrder=desc&offset=1&limit=1`);
    await expectStatus(page, 200);
    assert.equal(page.headers.get('x-total-count'), '3');
    assert.deepEqual(((await page.json()) as any[]).map((p) => p.metadata.name), ['zz-b']);
  });

  test('no client secret appears in clear in any event or log line', async () => {
    assert.ok(secrets.length > 5);
    const events = JSON.stringify(await server.service.stores.events.readAll({ maxCount: 100000 }), (_key, value) =>
      typeof value === 'bigint' ? String(value) : value,
    );
    const logs = server.logs.join('\n');
    for (const secret of secrets) {
      assert.ok(!events.includes(secret), `${secret} is in the event log`);
      assert.ok(!logs.includes(secret), `${secret} is in the log`);
    }
    assert.ok(events.includes('sealedClientSecret'));
  });
});

describe('identity providers configuration', () => {
  test('without OAUTH2_PROVIDERS the built-in list is empty', async () => {
    const server = await startTestServer();
    try {
      const response = await server.api('/api/v1/oauth2providers');
      await expectStatus(response, 200);
      assert.deepEqual(await response.json(), []);
      assert.equal(response.headers.get('x-total-count'), '0');
    } finally {
      await server.close();
    }
  });
});

describe('OAUTH2_PROVIDERS', () => {
  test('is validated at start, naming the setting', () => {
    const bad = [
      'not json',
      '{"id":"x"}',
      JSON.stringify([{ id: 'x', name: 'x', type: 'google', issuer: 'https://a.example', clientID: 'c', clientSecret: 's' }]),
      JSON.stringify([{ id: 'x', name: 'x', type: 'myspace', issuer: 'https://a.example', clientID: 'c' }]),
      JSON.stringify([{ id: 'x', name: 'x', type: 'google', issuer: 'nope', clientID: 'c' }]),
      JSON.stringify([SYSTEM_PROVIDERS[0], SYSTEM_PROVIDERS[0]]),
    ];
    for (const value of bad) assert.throws(() => loadConfig({ OAUTH2_PROVIDERS: value }), (e: unknown) => e instanceof ConfigError && /OAUTH2_PROVIDERS/.test(e.message), value);
    assert.deepEqual(loadConfig({}).OAUTH2_PROVIDERS, []);
    assert.deepEqual(loadConfig({ OAUTH2_PROVIDERS: JSON.stringify(SYSTEM_PROVIDERS) }).OAUTH2_PROVIDERS, SYSTEM_PROVIDERS);
  });
});
