import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createOrganization } from '../support/tenants.js';

async function expectError(response: Response, status: number, error: string, description?: RegExp) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  const body = (await response.json()) as { error: string; error_description: string };
  assert.equal(body.error, error);
  assert.equal(typeof body.error_description, 'string');
  if (description) assert.match(body.error_description, description);
  return body;
}

const createOrg = createOrganization;

describe('quotas API', () => {
  let server: TestServer;
  let org: string;
  const quotas = (organizationId = org) => `/api/v1/organizations/${organizationId}/quotas`;
  const getQuotas = async (organizationId = org) => {
    const response = await server.api(quotas(organizationId));
    assert.equal(response.status, 200, await response.clone().text());
    return ((await response.json()) as any).quotas as any[];
  };
  const kind = (list: any[], name: string) => list.find((q) => q.kind === name);
  const allocate = async (projectId: string, name: string, committed: number, reserved: number, organizationId = org) => {
    const response = await server.api(`/api/v1/organizations/${organizationId}/projects/${projectId}/allocations`, {
      method: 'POST',
      json: { metadata: { name }, spec: { kind: 'cluster', id: name, allocations: [{ kind: 'servers', committed, reserved }] } },
    });
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as any;
  };
  const createProject = async (name: string, organizationId = org) => {
    const response = await server.api(`/api/v1/organizations/${organizationId}/projects`, { method: 'POST', json: { metadata: { name }, spec: { groupIDs: [] } } });
    assert.equal(response.status, 202, await response.clone().text());
    return ((await response.json()) as any).metadata.id as string;
  };

  before(async () => {
    server = await startTestServer();
    org = await createOrg(server, 'quotas-org');
  });
  after(async () => server.close());

  test('GET fills every configured kind with its default, and nothing used', async () => {
    const list = await getQuotas(await createOrg(server, 'quotas-fresh'));
    assert.deepEqual(list.map((q) => q.kind), ['clusters', 'servers', 'gpus']);
    for (const q of list) {
      assert.equal(q.quantity, q.default);
      assert.equal(q.used, 0);
      assert.equal(q.committed, 0);
      assert.equal(q.reserved, 0);
      assert.equal(q.free, q.quantity);
      assert.equal(typeof q.displayName, 'string');
      assert.ok(q.displayName.length > 0);
      assert.equal(typeof q.description, 'string');
    }
  });

  test('PUT sets the listed kinds, keeps the others, and the log records it', async () => {
    const before = await getQuotas();
    const response = await server.api(quotas(), { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 12 }, { kind: 'gpus', quantity: 3 }] } });
    assert.equal(response.status, 200, await response.clone().text());
    const answered = ((await response.json()) as any).quotas as any[];
    assert.equal(kind(answered, 'servers').quantity, 12);
    assert.equal(kind(answered, 'servers').default, kind(before, 'servers').default);
    assert.equal(kind(answered, 'gpus').quantity, 3);
    assert.deepEqual(kind(answered, 'clusters'), kind(before, 'clusters'));
    assert.deepEqual(await getQuotas(), answered);
    const ledger = await server.service.stores.events.readStream(`resource-ledger-${org}`);
    assert.deepEqual(ledger.at(-1)!.type, 'quotas.updated');
    assert.deepEqual(ledger.at(-1)!.data, { organizationId: org, quotas: [{ kind: 'servers', quantity: 12 }, { kind: 'gpus', quantity: 3 }] });
    // Setting the same again records nothing.
    assert.equal((await server.api(quotas(), { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 12 }] } })).status, 200);
    assert.equal((await server.service.stores.events.readStream(`resource-ledger-${org}`)).length, ledger.length);
  });

  test('used, committed, reserved and free come from the allocations; a quota below usage is refused', async () => {
    const usageOrg = await createOrg(server, 'quotas-usage');
    assert.equal((await server.api(quotas(usageOrg), { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 10 }] } })).status, 200);
    const p1 = await createProject('one', usageOrg);
    const p2 = await createProject('two', usageOrg);
    await allocate(p1, 'a', 3, 1, usageOrg);
    await allocate(p2, 'b', 2, 0, usageOrg);
    const servers = kind(await getQuotas(usageOrg), 'servers');
    assert.deepEqual(
      { quantity: servers.quantity, used: servers.used, committed: servers.committed, reserved: servers.reserved, free: servers.free },
      { quantity: 10, used: 6, committed: 5, reserved: 1, free: 4 },
    );
    await expectError(await server.api(quotas(usageOrg), { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 5 }] } }), 409, 'conflict', /servers.*6/);
    assert.equal(kind(await getQuotas(usageOrg), 'servers').quantity, 10);
    const exact = await server.api(quotas(usageOrg), { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 6 }] } });
    assert.equal(exact.status, 200);
    assert.equal(kind(((await exact.json()) as any).quotas, 'servers').free, 0);
  });

  test('bad input gets a 4xx and changes nothing', async () => {
    const before = await getQuotas();
    const put = (json: unknown) => server.api(quotas(), { method: 'PUT', json });
    await expectError(await put({ quotas: [{ kind: 'tpus', quantity: 1 }] }), 400, 'invalid_request', /tpus/);
    await expectError(await put({ quotas: [{ kind: 'servers', quantity: 1 }, { kind: 'servers', quantity: 2 }] }), 400, 'invalid_request', /more than once/);
    await expectError(await put({ quotas: [{ kind: 'servers', quantity: -1 }] }), 400, 'invalid_request', /quantity/);
    await expectError(await put({ quotas: [{ kind: 'servers', quantity: 1.5 }] }), 400, 'invalid_request', /quantity/);
    await expectError(await put({ quotas: [{ kind: 'servers', quantity: '3' }] }), 400, 'invalid_request', /quantity/);
    await expectError(await put({ quotas: [{ kind: 'servers', quantity: 1, used: 0 }] }), 400, 'invalid_request', /used/);
    await expectError(await put({ quotas: {} }), 400, 'invalid_request', /quotas/);
    await expectError(await put({}), 400, 'invalid_request', /quotas/);
    await expectError(await put([]), 400, 'invalid_request');
    assert.deepEqual(await getQuotas(), before);
    await expectError(await server.api(quotas('no-such-org')), 404, 'not_found');
    await expectError(await server.api(quotas('no-such-org'), { method: 'PUT', json: { quotas: [] } }), 404, 'not_found');
  });

  test('a caller of another organization is refused', async () => {
    const otherOrg = await createOrg(server, 'quotas-other');
    const account = await server.api(`/api/v1/organizations/${otherOrg}/serviceaccounts`, { method: 'POST', json: { metadata: { name: 'robot' } } });
    assert.equal(account.status, 201, await account.clone().text());
    const token = ((await account.json()) as any).status.accessToken as string;
    await expectError(await server.api(quotas(), { token }), 403, 'forbidden');
    await expectError(await server.api(quotas(), { method: 'PUT', json: { quotas: [] }, token }), 403, 'forbidden');
  });
});

describe('quota kinds come from configuration', () => {
  test('QUOTA_DEFAULTS is JSON, validated, with the three kinds by default', () => {
    assert.deepEqual(loadConfig({}).QUOTA_DEFAULTS.map((k) => k.kind), ['clusters', 'servers', 'gpus']);
    const custom = [{ kind: 'volumes', displayName: 'Volumes', description: 'Block storage volumes.', default: 7 }];
    assert.deepEqual(loadConfig({ QUOTA_DEFAULTS: JSON.stringify(custom) }).QUOTA_DEFAULTS, custom);
    const refused = (value: string) =>
      assert.throws(() => loadConfig({ QUOTA_DEFAULTS: value }), (e: unknown) => e instanceof ConfigError && /QUOTA_DEFAULTS/.test(e.message));
    refused('not json');
    refused('[]');
    refused('[{"kind":"servers","displayName":"S","description":"d","default":-1}]');
    refused('[{"kind":"servers","displayName":"S","description":"d"}]');
    refused(JSON.stringify([...custom, ...custom]));
  });

  test('a server started with other kinds reports and enforces those', async () => {
    const custom = [{ kind: 'volumes', displayName: 'Volumes', description: 'Block storage volumes.', default: 2 }];
    const server = await startTestServer({ env: { QUOTA_DEFAULTS: JSON.stringify(custom) } });
    try {
      const org = await createOrg(server, 'volumes-org');
      const list = ((await (await server.api(`/api/v1/organizations/${org}/quotas`)).json()) as any).quotas;
      assert.deepEqual(list, [{ ...custom[0], quantity: 2, used: 0, free: 2, committed: 0, reserved: 0 }]);
      await expectError(
        await server.api(`/api/v1/organizations/${org}/quotas`, { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 1 }] } }),
        400,
        'invalid_request',
        /servers/,
      );
    } finally {
      await server.close();
    }
  });
});
