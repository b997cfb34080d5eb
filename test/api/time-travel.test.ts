import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { created, createOrganization, serviceAccountWithRoles } from '../support/tenants.js';

interface Version {
  time: string;
  position: string;
  type: string;
}

async function ok<T = any>(response: Response, status = 200): Promise<T> {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  return (await response.json()) as T;
}

async function expectError(response: Response, status: number, description?: RegExp) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  const body = (await response.json()) as { error: string; error_description: string };
  assert.equal(typeof body.error_description, 'string');
  if (description) assert.match(body.error_description, description);
}

/** A millisecond before an RFC 3339 time. */
const justBefore = (iso: string): string => new Date(Date.parse(iso) - 1).toISOString();
const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
const q = (params: Record<string, string>) => `?${new URLSearchParams(params)}`;

describe('time travel over HTTP (asOf, asOfPosition)', () => {
  let server: TestServer;
  let org: string;
  let base: string;
  let group: string;
  /** The group's versions: created, renamed, deleted. */
  let versions: Version[];
  let survivor: string;

  before(async () => {
    server = await startTestServer();
    org = await createOrganization(server, `travel-${Date.now().toString(36)}`);
    base = `/api/v1/organizations/${org}`;
    const made = await created(server, `${base}/groups`, { metadata: { name: 'first-name' }, spec: { roleIDs: ['reader'], userIDs: [], serviceAccountIDs: [] } });
    group = made.metadata.id;
    await pause();
    const put = await server.api(`${base}/groups/${group}`, { method: 'PUT', json: { metadata: { name: 'second-name' }, spec: { roleIDs: ['reader'], userIDs: [], serviceAccountIDs: [] } } });
    assert.equal(put.status, 200, await put.text());
    await pause();
    survivor = (await created(server, `${base}/groups`, { metadata: { name: 'survivor' }, spec: { roleIDs: ['reader'], userIDs: [], serviceAccountIDs: [] } })).metadata.id;
    await pause();
    const deleted = await server.api(`${base}/groups/${group}`, { method: 'DELETE' });
    assert.equal(deleted.status, 200, await deleted.text());
    const all: Version[] = (await ok(await server.api(`${base}/groups/${group}/history`))).items;
    // Created (its roles may follow as events of their own), renamed, deleted.
    versions = ['group.created', 'group.updated', 'group.deleted'].map((type) => all.find((v) => v.type === type)!);
    assert.ok(versions.every(Boolean), JSON.stringify(all.map((v) => v.type)));
  });
  after(async () => server?.close());

  const groupAt = (params: Record<string, string>) => server.api(`${base}/groups/${group}${q(params)}`);
  const groupNamesAt = async (params: Record<string, string>) =>
    ((await ok(await server.api(`${base}/groups${q(params)}`))) as Array<{ metadata: { name: string } }>).map((g) => g.metadata.name).sort();

  test('a group as of before its creation: 404; between its updates: as it was; after its deletion: 404; just before: shown', async () => {
    const [createdV, renamedV, deletedV] = versions as [Version, Version, Version];
    await expectError(await groupAt({ asOf: justBefore(createdV.time) }), 404);
    assert.equal((await ok(await groupAt({ asOf: createdV.time }))).metadata.name, 'first-name');
    assert.equal((await ok(await groupAt({ asOf: justBefore(renamedV.time) }))).metadata.name, 'first-name');
    assert.equal((await ok(await groupAt({ asOf: renamedV.time }))).metadata.name, 'second-name');
    assert.equal((await ok(await groupAt({ asOf: justBefore(deletedV.time) }))).metadata.name, 'second-name');
    await expectError(await groupAt({ asOf: deletedV.time }), 404);
    await expectError(await groupAt({ asOf: new Date().toISOString() }), 404);
    // Now, without asOf: gone.
    await expectError(await server.api(`${base}/groups/${group}`), 404);
  });

  test('asOfPosition: as of just after the event at that position', async () => {
    const [createdV, renamedV, deletedV] = versions as [Version, Version, Version];
    assert.equal((await ok(await groupAt({ asOfPosition: createdV.position }))).metadata.name, 'first-name');
    assert.equal((await ok(await groupAt({ asOfPosition: renamedV.position }))).metadata.name, 'second-name');
    assert.equal((await ok(await groupAt({ asOfPosition: String(BigInt(deletedV.position) - 1n) }))).metadata.name, 'second-name');
    await expectError(await groupAt({ asOfPosition: deletedV.position }), 404);
    await expectError(await groupAt({ asOfPosition: String(BigInt(createdV.position) - 1n) }), 404);
  });

  test('lists as of a moment', async () => {
    const [createdV, renamedV, deletedV] = versions as [Version, Version, Version];
    assert.deepEqual(await groupNamesAt({ asOf: createdV.time }), ['first-name']);
    assert.deepEqual(await groupNamesAt({ asOfPosition: renamedV.position }), ['second-name']);
    assert.deepEqual(await groupNamesAt({ asOf: justBefore(deletedV.time) }), ['second-name', 'survivor']);
    assert.deepEqual(await groupNamesAt({ asOf: deletedV.time }), ['survivor']);
    // A list's own parameters still apply, as of the moment.
    const page = await server.api(`${base}/groups${q({ asOf: justBefore(deletedV.time), sortOrder: 'desc', limit: '1' })}`);
    assert.deepEqual(((await ok(page)) as any[]).map((g) => g.metadata.name), ['survivor']);
    assert.equal(page.headers.get('x-total-count'), '2');
    // Every organization-scoped list takes it (the built-in roles are the same at every moment).
    assert.ok(((await ok(await server.api(`${base}/roles${q({ asOf: createdV.time })}`))) as any[]).length > 0);
    for (const list of ['users', 'projects', 'allocations', 'applications', 'oauth2providers', 'serviceaccounts']) {
      assert.deepEqual(await ok(await server.api(`${base}/${list}${q({ asOf: createdV.time })}`)), [], list);
    }
    // The organization itself, and its quotas, as of then.
    assert.equal((await ok(await server.api(`${base}${q({ asOf: createdV.time })}`))).metadata.id, org);
    assert.ok(Array.isArray((await ok(await server.api(`${base}/quotas${q({ asOf: createdV.time })}`))).quotas));
    // Before the organization existed: it is not found.
    await expectError(await server.api(`${base}${q({ asOf: '2000-01-01T00:00:00Z' })}`), 404);
    await expectError(await server.api(`${base}/groups${q({ asOf: '2000-01-01T00:00:00Z' })}`), 404);
  });

  test('bad moments: 400 with a clear description', async () => {
    const [createdV] = versions as [Version];
    await expectError(await groupAt({ asOf: createdV.time, asOfPosition: createdV.position }), 400, /not both/);
    await expectError(await groupAt({ asOf: 'yesterday' }), 400, /RFC 3339/);
    await expectError(await groupAt({ asOf: '2026-01-01' }), 400, /RFC 3339/);
    await expectError(await groupAt({ asOf: '2026-13-45T99:00:00Z' }), 400, /RFC 3339/);
    await expectError(await groupAt({ asOfPosition: '-1' }), 400, /position/);
    await expectError(await groupAt({ asOfPosition: '0x10' }), 400, /position/);
    await expectError(await server.api(`${base}/groups/${group}?asOf=${encodeURIComponent(createdV.time)}&asOf=${encodeURIComponent(createdV.time)}`), 400, /once/);
    await expectError(await groupAt({ asOf: new Date(Date.now() + 3_600_000).toISOString() }), 400, /future/);
    await expectError(await groupAt({ asOfPosition: '999999999999' }), 400, /after the newest/);
    // Routes that do not read the past: 400.
    await expectError(await server.api(`${base}/groups${q({ asOf: createdV.time })}`, { method: 'POST', json: { metadata: { name: 'x' }, spec: { roleIDs: [] } } }), 400, /not accepted here/);
    await expectError(await server.api(`${base}/groups/${survivor}${q({ asOf: createdV.time })}`, { method: 'DELETE' }), 400, /not accepted here/);
    await expectError(await server.api(`/api/v1/acl${q({ asOf: createdV.time })}`), 400, /not accepted here/);
    await expectError(await server.api(`/api/v1/organizations${q({ asOf: createdV.time })}`), 400, /not accepted here/);
  });

  test('a reader without identity:audit: 403 with asOf, 200 without; an administrator of the organization: 200', async () => {
    const [createdV] = versions as [Version];
    const reader = await serviceAccountWithRoles(server, org, ['reader']);
    await ok(await server.api(`${base}/groups/${survivor}`, { token: reader.token }));
    await expectError(await server.api(`${base}/groups/${survivor}${q({ asOf: new Date().toISOString() })}`, { token: reader.token }), 403, /identity:audit/);
    await expectError(await server.api(`${base}/groups${q({ asOf: createdV.time })}`, { token: reader.token }), 403, /identity:audit/);
    await expectError(await server.api(`${base}/projects${q({ asOf: createdV.time })}`, { token: reader.token }), 403, /identity:audit/);
    const admin = await serviceAccountWithRoles(server, org, ['administrator']);
    assert.deepEqual(((await ok(await server.api(`${base}/groups${q({ asOf: createdV.time })}`, { token: admin.token }))) as any[]).length, 1);
    // A caller of another organization learns nothing of this one's past.
    const other = await createOrganization(server, `travel-other-${Date.now().toString(36)}`);
    const stranger = await serviceAccountWithRoles(server, other, ['administrator']);
    await expectError(await server.api(`${base}/groups${q({ asOf: createdV.time })}`, { token: stranger.token }), 403);
  });

  test('the OpenAPI document names asOf on the routes that take it, and every history route', async () => {
    const document = (await ok(await server.api('/openapi.json'))) as any;
    const parameters = (path: string) => (document.paths[path].get.parameters as Array<{ name: string }>).map((p) => p.name);
    assert.ok(parameters('/api/v1/organizations/{organizationID}/groups').includes('asOf'));
    assert.ok(parameters('/api/v1/organizations/{organizationID}/groups/{groupid}').includes('asOfPosition'));
    assert.ok(!parameters('/api/v1/organizations').includes('asOf'));
    const histories = Object.keys(document.paths).filter((path) => path.endsWith('/history'));
    assert.equal(histories.length, 9, histories.join('\n'));
  });

  test("an erased person's data is gone from the past too: kept states are forgotten, histories read it erased", async () => {
    const name = `erasable-${Date.now().toString(36)}`;
    const person = await created(server, `${base}/users`, { metadata: { name }, spec: { subject: `${name}@example.com`, state: 'active', groupIDs: [] } });
    const path = `${base}/users/${person.metadata.id}`;
    const moment = q({ asOf: new Date().toISOString() });
    assert.equal((await ok(await server.api(`${path}${moment}`))).metadata.name, name);
    assert.match(JSON.stringify(await ok(await server.api(`${base}/users${moment}`))), new RegExp(name));
    assert.match(JSON.stringify(await ok(await server.api(`${path}/history`))), new RegExp(name));
    const erased = await server.api(`${path}/erasure`, { method: 'POST' });
    assert.equal(erased.status, 200, await erased.text());
    // The same moment: the kept state was dropped, and the replay reads the person erased.
    assert.doesNotMatch(JSON.stringify(await ok(await server.api(`${path}${moment}`))), new RegExp(name));
    assert.doesNotMatch(JSON.stringify(await ok(await server.api(`${base}/users${moment}`))), new RegExp(name));
    assert.doesNotMatch(JSON.stringify(await ok(await server.api(`${path}/history`))), new RegExp(name));
  });

  test('the ACL of a subject as of a moment: before and after its group gained a role', async () => {
    const user = await created(server, `${base}/users`, { metadata: { name: 'auditee' }, spec: { subject: `auditee-${Date.now()}@example.com`, state: 'active', groupIDs: [] } });
    const team = await created(server, `${base}/groups`, { metadata: { name: 'team' }, spec: { roleIDs: ['reader'], userIDs: [user.metadata.id], serviceAccountIDs: [] } });
    const readerSince = (await ok(await server.api(`${base}/groups/${team.metadata.id}/history`))).items.at(-1).time as string;
    await pause();
    const put = await server.api(`${base}/groups/${team.metadata.id}`, {
      method: 'PUT',
      json: { metadata: { name: 'team' }, spec: { roleIDs: ['administrator'], userIDs: [user.metadata.id], serviceAccountIDs: [] } },
    });
    assert.equal(put.status, 200, await put.text());
    const operations = (acl: any, family: string): string[] => acl.organization.endpoints.find((e: any) => e.name === family)?.operations ?? [];

    const then = await ok(await server.api(`${base}/acl${q({ subject: user.metadata.id, asOf: readerSince })}`));
    assert.deepEqual(operations(then, 'identity:groups'), ['read']);
    assert.deepEqual(operations(then, 'identity:audit'), []);
    const now = await ok(await server.api(`${base}/acl${q({ subject: user.metadata.id })}`));
    assert.deepEqual(operations(now, 'identity:groups'), ['create', 'read', 'update', 'delete']);
    assert.deepEqual(operations(now, 'identity:audit'), ['read']);
    // Before the user existed: not found; an unknown subject: not found.
    await expectError(await server.api(`${base}/acl${q({ subject: user.metadata.id, asOf: versions[0]!.time })}`), 404);
    await expectError(await server.api(`${base}/acl${q({ subject: 'nobody' })}`), 404);
    // A service account as subject.
    const robot = await serviceAccountWithRoles(server, org, ['reader']);
    assert.deepEqual(operations(await ok(await server.api(`${base}/acl${q({ subject: robot.serviceAccountId })}`)), 'identity:users'), ['read']);
    // Someone else's list needs identity:audit; one's own does not (without asOf).
    await expectError(await server.api(`${base}/acl${q({ subject: user.metadata.id })}`, { token: robot.token }), 403, /identity:audit/);
    assert.deepEqual(operations(await ok(await server.api(`${base}/acl${q({ subject: robot.serviceAccountId })}`, { token: robot.token })), 'identity:users'), ['read']);
    assert.deepEqual(operations(await ok(await server.api(`${base}/acl`, { token: robot.token })), 'identity:users'), ['read']);
    await expectError(await server.api(`${base}/acl${q({ asOf: readerSince })}`, { token: robot.token }), 403, /identity:audit/);
  });
});

describe('time travel: the bound on events replayed', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { TIME_TRAVEL_MAX_EVENTS: '3', TIME_TRAVEL_CACHED_MODELS: '0' } });
  });
  after(async () => server?.close());

  test('more events than TIME_TRAVEL_MAX_EVENTS up to the moment: 400 saying so, for a read and for a history', async () => {
    const org = await createOrganization(server, `bounded-${Date.now().toString(36)}`);
    const base = `/api/v1/organizations/${org}`;
    const group = await created(server, `${base}/groups`, { metadata: { name: 'g' }, spec: { roleIDs: ['reader'], userIDs: [], serviceAccountIDs: [] } });
    for (let i = 0; i < 3; i++) {
      const put = await server.api(`${base}/groups/${group.metadata.id}`, { method: 'PUT', json: { metadata: { name: `g${i}` }, spec: { roleIDs: ['reader'], userIDs: [], serviceAccountIDs: [] } } });
      assert.equal(put.status, 200, await put.text());
    }
    await expectError(await server.api(`${base}/groups${q({ asOf: new Date().toISOString() })}`), 400, /more than 3 events.*TIME_TRAVEL_MAX_EVENTS/);
    await expectError(await server.api(`${base}/groups/${group.metadata.id}/history`), 400, /TIME_TRAVEL_MAX_EVENTS/);
    // Before the organization's first event there is nothing to replay: within the bound, and not found.
    await expectError(await server.api(`${base}/groups${q({ asOfPosition: '1' })}`), 404, /organization .* not found/);
  });
});
