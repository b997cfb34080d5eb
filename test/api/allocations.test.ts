import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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

const allocationBody = (name: string, amounts: Array<{ kind: string; committed: number; reserved: number }>, extra: Record<string, unknown> = {}) => ({
  metadata: { name, ...extra },
  spec: { kind: 'kubernetescluster', id: `cluster-${name}`, allocations: amounts },
});
const servers = (committed: number, reserved = 0) => [{ kind: 'servers', committed, reserved }];

describe('allocations API', () => {
  let server: TestServer;
  let org: string;
  let otherOrg: string;
  let project: string;
  let otherProject: string;

  const createOrg = (name: string) => createOrganization(server, name);
  const createProject = async (name: string, organizationId = org, groupIDs: string[] = []) => {
    const response = await server.api(`/api/v1/organizations/${organizationId}/projects`, { method: 'POST', json: { metadata: { name }, spec: { groupIDs } } });
    assert.equal(response.status, 202, await response.clone().text());
    return ((await response.json()) as any).metadata.id as string;
  };
  const allocations = (projectId = project, organizationId = org) => `/api/v1/organizations/${organizationId}/projects/${projectId}/allocations`;
  const create = async (body: unknown, projectId = project, organizationId = org) => {
    const response = await server.api(allocations(projectId, organizationId), { method: 'POST', json: body });
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as any;
  };
  const setServers = async (quantity: number, organizationId = org) => {
    const response = await server.api(`/api/v1/organizations/${organizationId}/quotas`, { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity }] } });
    assert.equal(response.status, 200, await response.clone().text());
  };
  const quota = async (kind: string, organizationId = org) =>
    (((await (await server.api(`/api/v1/organizations/${organizationId}/quotas`)).json()) as any).quotas as any[]).find((q) => q.kind === kind);

  before(async () => {
    server = await startTestServer();
    org = await createOrg('allocations-org');
    otherOrg = await createOrg('allocations-other-org');
    project = await createProject('main');
    otherProject = await createProject('second');
    await setServers(100);
  });
  after(async () => server.close());

  test('POST 201, GET, PUT 200, DELETE 202: the whole life of an allocation', async () => {
    const created = await create(allocationBody('web', [...servers(2, 1), { kind: 'clusters', committed: 1, reserved: 0 }], { description: 'web cluster', tags: [{ name: 'env', value: 'prod' }] }));
    const id = created.metadata.id;
    assert.equal(created.metadata.name, 'web');
    assert.equal(created.metadata.description, 'web cluster');
    assert.deepEqual(created.metadata.tags, [{ name: 'env', value: 'prod' }]);
    assert.equal(created.metadata.organizationId, org);
    assert.equal(created.metadata.projectId, project);
    assert.equal(created.metadata.provisioningStatus, 'provisioned');
    assert.equal(created.metadata.healthStatus, 'healthy');
    assert.equal(created.metadata.createdBy, 'platform-administrator');
    assert.deepEqual(created.spec, { kind: 'kubernetescluster', id: 'cluster-web', allocations: [...servers(2, 1), { kind: 'clusters', committed: 1, reserved: 0 }] });
    assert.ok(!('_id' in created) && !('_position' in created));
    assert.deepEqual(await (await server.api(`${allocations()}/${id}`)).json(), created);
    const used = (await quota('servers')).used;

    const put = await server.api(`${allocations()}/${id}`, { method: 'PUT', json: allocationBody('web', servers(5)) });
    assert.equal(put.status, 200, await put.clone().text());
    const updated = (await put.json()) as any;
    assert.deepEqual(updated.spec.allocations, servers(5));
    assert.equal(updated.metadata.description, undefined);
    assert.equal(updated.metadata.modifiedBy, 'platform-administrator');
    assert.equal(updated.metadata.creationTime, created.metadata.creationTime);
    assert.equal((await quota('servers')).used, used + 2);
    assert.equal((await quota('clusters')).used, 0);

    const del = await server.api(`${allocations()}/${id}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    await expectError(await server.api(`${allocations()}/${id}`), 404, 'not_found');
    await expectError(await server.api(`${allocations()}/${id}`, { method: 'DELETE' }), 404, 'not_found');
    await expectError(await server.api(`${allocations()}/${id}`, { method: 'PUT', json: allocationBody('web', servers(1)) }), 404, 'not_found');
    assert.equal((await quota('servers')).used, used - 3);
    const types = (await server.service.stores.events.readStream(`resource-ledger-${org}`)).map((e) => e.type);
    assert.deepEqual(types.slice(-3), ['allocation.created', 'allocation.updated', 'allocation.deleted']);
  });

  test('an allocation past the quota is refused with 409, and a PUT past it too', async () => {
    const quotaOrg = await createOrg('allocations-quota-org');
    const p = await createProject('p', quotaOrg);
    await setServers(5, quotaOrg);
    const a = await create(allocationBody('a', servers(3, 1)), p, quotaOrg);
    await expectError(await server.api(allocations(p, quotaOrg), { method: 'POST', json: allocationBody('b', servers(2)) }), 409, 'conflict', /quota exceeded for servers/);
    await expectError(
      await server.api(`${allocations(p, quotaOrg)}/${a.metadata.id}`, { method: 'PUT', json: allocationBody('a', servers(4, 2)) }),
      409,
      'conflict',
      /quota exceeded/,
    );
    await create(allocationBody('b', servers(1)), p, quotaOrg);
    const q = await quota('servers', quotaOrg);
    assert.deepEqual([q.used, q.free], [5, 0]);
    // Names are unique within the project.
    await expectError(await server.api(allocations(p, quotaOrg), { method: 'POST', json: allocationBody('A', []) }), 409, 'conflict', /already exists/);
  });

  test('the organization list shows every allocation, with list parameters and X-Total-Count', async () => {
    const listOrg = await createOrg('allocations-list-org');
    const p1 = await createProject('p1', listOrg);
    const p2 = await createProject('p2', listOrg);
    await create(allocationBody('c', servers(1)), p1, listOrg);
    await create(allocationBody('a', servers(1)), p1, listOrg);
    await create(allocationBody('b', servers(1)), p2, listOrg);
    const get = async (query = '') => {
      const response = await server.api(`/api/v1/organizations/${listOrg}/allocations${query ? `?${query}` : ''}`);
      assert.equal(response.status, 200, await response.clone().text());
      return { names: ((await response.json()) as any[]).map((a) => a.metadata.name), total: Number(response.headers.get('x-total-count')) };
    };
    assert.deepEqual(await get(), { names: ['a', 'b', 'c'], total: 3 });
    assert.deepEqual(await get(`filterBy=projectId==${p1}`), { names: ['a', 'c'], total: 2 });
    assert.deepEqual(await get('sortBy=name&sortOrder=desc&limit=1&offset=1'), { names: ['b'], total: 3 });
    assert.deepEqual(await get('search=CLUSTER-B'), { names: ['b'], total: 1 });
    await expectError(await server.api(`/api/v1/organizations/${listOrg}/allocations?filterBy=size>=3`), 400, 'invalid_request');
    await expectError(await server.api('/api/v1/organizations/no-such-org/allocations'), 404, 'not_found');
  });

  test('allocations of another project or organization are not found through this one', async () => {
    const mine = await create(allocationBody('mine', servers(1)));
    const wrongProject = `${allocations(otherProject)}/${mine.metadata.id}`;
    await expectError(await server.api(wrongProject), 404, 'not_found');
    await expectError(await server.api(wrongProject, { method: 'PUT', json: allocationBody('mine', servers(2)) }), 404, 'not_found');
    await expectError(await server.api(wrongProject, { method: 'DELETE' }), 404, 'not_found');
    const foreignProject = await createProject('foreign', otherOrg);
    const wrongOrg = `${allocations(project, otherOrg)}/${mine.metadata.id}`;
    await expectError(await server.api(wrongOrg), 404, 'not_found');
    await expectError(await server.api(wrongOrg, { method: 'DELETE' }), 404, 'not_found');
    // A project of another organization takes no allocation through this one.
    await expectError(await server.api(allocations(foreignProject, org), { method: 'POST', json: allocationBody('x', []) }), 404, 'not_found');
    await expectError(await server.api(allocations('no-such-project'), { method: 'POST', json: allocationBody('x', []) }), 404, 'not_found');
    assert.equal((await server.api(`${allocations()}/${mine.metadata.id}`)).status, 200);
    const foreignList = (await (await server.api(`/api/v1/organizations/${otherOrg}/allocations`)).json()) as any[];
    assert.ok(!foreignList.some((a) => a.metadata.id === mine.metadata.id));
  });

  test('bad input gets a 4xx and writes nothing', async () => {
    const before = (await server.service.stores.events.readStream(`resource-ledger-${org}`)).length;
    const post = (json: unknown) => server.api(allocations(), { method: 'POST', json });
    await expectError(await post(allocationBody('x', [{ kind: 'tpus', committed: 1, reserved: 0 }])), 400, 'invalid_request', /tpus/);
    await expectError(await post(allocationBody('x', [...servers(1), ...servers(1)])), 400, 'invalid_request', /more than once/);
    await expectError(await post(allocationBody('x', servers(-1))), 400, 'invalid_request', /committed/);
    await expectError(await post(allocationBody('x', [{ kind: 'servers', committed: 1 }] as any)), 400, 'invalid_request', /reserved/);
    await expectError(await post({ metadata: { name: 'x' }, spec: { kind: 'k', allocations: [] } }), 400, 'invalid_request', /spec\.id/);
    await expectError(await post({ metadata: { name: 'x' } }), 400, 'invalid_request', /spec/);
    await expectError(await post({ ...allocationBody('x', []), status: {} }), 400, 'invalid_request', /status/);
    await expectError(await post(allocationBody('Not Valid!', [])), 400, 'invalid_request', /metadata\.name/);
    assert.equal((await server.service.stores.events.readStream(`resource-ledger-${org}`)).length, before);
  });

  test('project-scoped grants: a member works in its projects only, and lists only their allocations', async () => {
    const accessOrg = await createOrg('allocations-access-org');
    const groupResponse = await server.api(`/api/v1/organizations/${accessOrg}/groups`, { method: 'POST', json: { metadata: { name: 'members' }, spec: { roleIDs: ['user'] } } });
    assert.equal(groupResponse.status, 201, await groupResponse.clone().text());
    const group = ((await groupResponse.json()) as any).metadata.id as string;
    const account = await server.api(`/api/v1/organizations/${accessOrg}/serviceaccounts`, { method: 'POST', json: { metadata: { name: 'robot' }, spec: { groupIDs: [group] } } });
    assert.equal(account.status, 201, await account.clone().text());
    const token = ((await account.json()) as any).status.accessToken as string;
    const mine = await createProject('mine', accessOrg, [group]);
    const theirs = await createProject('theirs', accessOrg);
    await create(allocationBody('theirs', servers(1)), theirs, accessOrg);

    const created = await server.api(allocations(mine, accessOrg), { method: 'POST', json: allocationBody('mine', servers(1)), token });
    assert.equal(created.status, 201, await created.clone().text());
    assert.equal(((await created.json()) as any).metadata.createdBy, 'robot');
    await expectError(await server.api(allocations(theirs, accessOrg), { method: 'POST', json: allocationBody('x', []), token }), 403, 'forbidden');
    const listed = await server.api(`/api/v1/organizations/${accessOrg}/allocations`, { token });
    assert.equal(listed.status, 200);
    assert.deepEqual(((await listed.json()) as any[]).map((a) => a.metadata.name), ['mine']);
    await expectError(await server.api(`/api/v1/organizations/${org}/allocations`, { token }), 403, 'forbidden');
    // The user role reads quotas but does not set them.
    assert.equal((await server.api(`/api/v1/organizations/${accessOrg}/quotas`, { token })).status, 200);
    await expectError(await server.api(`/api/v1/organizations/${accessOrg}/quotas`, { method: 'PUT', json: { quotas: [] }, token }), 403, 'forbidden');
  });

  test('50 concurrent allocations never over-commit the quota', async () => {
    const raceOrg = await createOrg('allocations-race-org');
    const p = await createProject('race', raceOrg);
    await setServers(10, raceOrg);
    // The service retries lost races itself; the client retries the rare ConcurrencyError a few times.
    const attempt = async (i: number) => {
      for (let tries = 0; ; tries++) {
        const response = await server.api(allocations(p, raceOrg), { method: 'POST', json: allocationBody(`r${i}`, servers(1)) });
        const body = (await response.json()) as any;
        if (response.status === 409 && /concurrently/.test(body.error_description) && tries < 5) continue;
        return { status: response.status, body };
      }
    };
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => attempt(i)));
    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 409);
    assert.equal(created.length + refused.length, 50, JSON.stringify(results.filter((r) => r.status !== 201 && r.status !== 409)));
    for (const r of refused) assert.match(r.body.error_description, /quota exceeded|concurrently/);
    assert.equal(created.length, 10);

    // In the log: fold the ledger and sum what is live.
    const live = new Map<string, number>();
    for (const event of await server.service.stores.events.readStream(`resource-ledger-${raceOrg}`)) {
      const data = event.data as any;
      if (event.type === 'allocation.created' || event.type === 'allocation.updated') {
        live.set(data.allocationId, data.spec.allocations.reduce((sum: number, a: any) => sum + a.committed + a.reserved, 0));
      } else if (event.type === 'allocation.deleted') live.delete(data.allocationId);
    }
    assert.equal([...live.values()].reduce((a, b) => a + b, 0), 10);
    // In the read model.
    const listed = (await (await server.api(`/api/v1/organizations/${raceOrg}/allocations?limit=500`)).json()) as any[];
    assert.equal(listed.reduce((sum, a) => sum + a.spec.allocations.reduce((s: number, x: any) => s + x.committed + x.reserved, 0), 0), 10);
    const q = await quota('servers', raceOrg);
    assert.ok(q.used <= q.quantity);
    assert.deepEqual([q.quantity, q.used, q.free], [10, 10, 0]);
  });
});
