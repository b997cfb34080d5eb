/**
 * Groups written by the version whose group events carried whole lists
 * (test/fixtures/log-v1): they still fold, in the decider (a PUT appends the
 * difference from the old lists) and in the read models (the lists of the
 * newest whole-list event), and later per-member events apply on top.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadFixtureLog, readFixtureLog } from '../support/fixture-log.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

const log = readFixtureLog('log-v1');
const { ids } = log.manifest;

describe('groups of the fixture log v1 (whole lists in every event)', () => {
  const dir = tempDir();
  let server: TestServer;
  const base = `/api/v1/organizations/${log.manifest.organization.id}`;
  const get = async (path: string) => {
    const response = await server.api(path);
    assert.equal(response.status, 200, `GET ${path}: ${response.status} ${await response.clone().text()}`);
    return (await response.json()) as any;
  };
  const sorted = (values: readonly string[]) => [...values].sort();

  before(async () => {
    await loadFixtureLog(log, dir.path);
    server = await startTestServer({ dataDir: dir.path });
    await eventually(async () => (await server.api('/readyz', { token: null })).status === 200, 15_000);
  });
  after(async () => {
    await server?.close();
    dir.remove();
  });

  test('old events read upcast: their whole lists under members', async () => {
    const events = await server.service.stores.events.readStream(`group-${ids.engineers}`);
    assert.deepEqual(events.map((e) => e.type), ['group.created', 'group.updated']);
    assert.deepEqual(sorted((events[1]!.data as any).members.userIDs), sorted([ids.alice, ids.bob]));
    assert.equal((events[1]!.data as any).userIDs, undefined);
  });

  test('the read models hold the lists of the newest whole-list event', async () => {
    const engineers = await get(`${base}/groups/${ids.engineers}`);
    assert.deepEqual(engineers.spec, { roleIDs: ['user'], userIDs: [ids.alice, ids.bob], serviceAccountIDs: [ids.serviceAccount] });
    assert.deepEqual(sorted((await get(`${base}/users/${ids.bob}`)).spec.groupIDs), sorted([ids.engineers, ids.readers]));
    assert.deepEqual((await get(`${base}/users/${ids.alice}`)).spec.groupIDs, [ids.engineers]);
    assert.deepEqual((await get(`${base}/serviceaccounts/${ids.serviceAccount}`)).spec.groupIDs, [ids.engineers]);
  });

  test('a PUT on an old group appends exactly the difference from its old lists; the read models follow', async () => {
    const engineers = await get(`${base}/groups/${ids.engineers}`);
    const put = await server.api(`${base}/groups/${ids.engineers}`, {
      method: 'PUT',
      json: { metadata: { name: engineers.metadata.name }, spec: { roleIDs: ['user', 'reader'], userIDs: [ids.alice], serviceAccountIDs: [] } },
    });
    assert.equal(put.status, 200, await put.clone().text());
    const events = (await server.service.stores.events.readStream(`group-${ids.engineers}`)).slice(2);
    assert.deepEqual(
      events.map((e) => e.type),
      ['group.role.added', 'group.user.removed', 'group.service_account.removed'],
    );
    assert.equal((events[1]!.data as any).userId, ids.bob);
    assert.deepEqual((await get(`${base}/groups/${ids.engineers}`)).spec, { roleIDs: ['user', 'reader'], userIDs: [ids.alice], serviceAccountIDs: [] });
    assert.deepEqual((await get(`${base}/users/${ids.bob}`)).spec.groupIDs, [ids.readers]);
    assert.deepEqual((await get(`${base}/users/${ids.alice}`)).spec.groupIDs, [ids.engineers]);
    assert.deepEqual((await get(`${base}/serviceaccounts/${ids.serviceAccount}`)).spec.groupIDs, []);
  });

  test('after a restart the same log folds to the same answers (old events, then per-member ones)', async () => {
    await server.close();
    server = await startTestServer({ dataDir: dir.path });
    await eventually(async () => (await server.api('/readyz', { token: null })).status === 200, 15_000);
    assert.deepEqual((await get(`${base}/groups/${ids.engineers}`)).spec, { roleIDs: ['user', 'reader'], userIDs: [ids.alice], serviceAccountIDs: [] });
    assert.deepEqual((await get(`${base}/users/${ids.bob}`)).spec.groupIDs, [ids.readers]);
    assert.deepEqual((await get(`${base}/serviceaccounts/${ids.serviceAccount}`)).spec.groupIDs, []);
  });
});
