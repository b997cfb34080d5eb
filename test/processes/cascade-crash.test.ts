import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type ServiceProcess, startServiceProcess, stopServiceProcess } from '../support/process.js';
import { eventually } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { pino } from 'pino';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { PROJECTIONS } from '../../src/service.js';
import { type Api, apiOf, childCount, leftIn, expectChildrenGone, expectListsGone, expectLogComplete, type LoggedEvent, populateOrganization, type Population } from './fixture.js';

const TOKEN = 'crash-test-bootstrap-token-0123456789abcdefghij';

/** At least 500 children of every kind, plus an allocation per project. */
const COUNTS = { users: 250, groups: 20, projects: 60, serviceAccounts: 60, applications: 60, identityProviders: 50 };

/** When the process is killed, counted from the DELETE's 202. */
const KILL_POINTS_MS = [0, 50, 300];

/** The whole log, read straight from the SQLite file, as the next start would find it. */
function readLog(dataDir: string): LoggedEvent[] {
  const db = new Database(join(dataDir, 'events.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT stream_name AS streamName, type FROM events ORDER BY position').all() as LoggedEvent[];
  } finally {
    db.close();
  }
}

/** A list of the organization's children as the API shows it, for comparing before and after restarts. */
async function listing(api: Api, organizationId: string): Promise<unknown[]> {
  const lists = [];
  for (const path of ['users', 'groups', 'projects', 'serviceaccounts', 'applications', 'oauth2providers', 'allocations', 'quotas']) {
    const response = await api(`/api/v1/organizations/${organizationId}/${path}`);
    assert.equal(response.status, 200, `${path}: ${response.status}`);
    lists.push(await response.json());
  }
  return lists;
}

describe('cascade deletes survive crashes', () => {
  test('killed with SIGKILL right after the 202, and 50 ms and 300 ms after, the next start finishes every cascade', { timeout: 600_000 }, async (t) => {
    const dir = tempDir();
    const env = { DATA_DIR: dir.path, IDENTITY_BOOTSTRAP_TOKEN: TOKEN, LOG_LEVEL: 'error' };
    let service: ServiceProcess = await startServiceProcess(env);
    const api = (): Api => apiOf(service.baseUrl, TOKEN);
    try {
      const doomed: Population[] = [];
      for (const [i] of KILL_POINTS_MS.entries()) doomed.push(await populateOrganization(api(), `doomed-${i}`, COUNTS));
      for (const population of doomed) assert.ok(childCount(population) >= 500, `${childCount(population)} children`);
      // A bystander: the cascades must not touch it, and restarts must not change it.
      const bystander = await populateOrganization(api(), 'bystander', { users: 5, groups: 2, projects: 2, serviceAccounts: 2, applications: 2, identityProviders: 2 });
      // Its projects read provisioned once the provisioning process has seen them; compare from then on.
      await eventually(async () => {
        const projects = (await (await api()(`/api/v1/organizations/${bystander.organizationId}/projects`)).json()) as Array<{ metadata: { provisioningStatus: string } }>;
        return projects.every((p) => p.metadata.provisioningStatus === 'provisioned');
      });
      const bystanderBefore = await listing(api(), bystander.organizationId);

      for (const [i, killAfterMs] of KILL_POINTS_MS.entries()) {
        const population = doomed[i]!;
        const { organizationId } = population;
        const deletedBefore = readLog(dir.path).filter((e) => e.type.endsWith('.deleted')).length;
        const response = await api()(`/api/v1/organizations/${organizationId}`, { method: 'DELETE' });
        assert.equal(response.status, 202);
        if (killAfterMs > 0) await new Promise((resolve) => setTimeout(resolve, killAfterMs));
        await stopServiceProcess(service, 'SIGKILL');
        const atKill = readLog(dir.path);
        const deletedAtKill = atKill.filter((e) => e.type.endsWith('.deleted')).length - deletedBefore;
        t.diagnostic(`killed ${killAfterMs} ms after the 202, with ${deletedAtKill} of ${childCount(population) + 1} deletions in the log`);
        assert.ok(atKill.some((e) => e.streamName === `organization-${organizationId}` && e.type === 'organization.deletion_requested'), 'the request is durable');

        service = await startServiceProcess(env);
        await eventually(async () => (await api()(`/api/v1/organizations/${organizationId}`)).status === 404, 120_000, 100);
        await expectListsGone(api(), organizationId);
        await expectChildrenGone(api(), population);
        const organizations = (await (await api()('/api/v1/organizations')).json()) as Array<{ metadata: { id: string } }>;
        assert.ok(!organizations.some((o) => o.metadata.id === organizationId), 'the list leaves it out');
      }

      // Its name may be used again.
      const again = await api()('/api/v1/organizations', { method: 'POST', json: { metadata: { name: 'doomed-0' }, spec: { organizationType: 'adhoc' } } });
      assert.equal(again.status, 202);
      assert.deepEqual(await listing(api(), bystander.organizationId), bystanderBefore, 'the bystander is untouched');

      // One more start on the same data rebuilds the same read models.
      await stopServiceProcess(service, 'SIGTERM');
      service = await startServiceProcess(env);
      assert.deepEqual(await listing(api(), bystander.organizationId), bystanderBefore, 'a restart changes nothing');
      for (const population of doomed) assert.equal((await api()(`/api/v1/organizations/${population.organizationId}`)).status, 404);
      await stopServiceProcess(service, 'SIGTERM');

      // The log itself: every child ended once, with its own deleted event; every organization ended.
      const log = readLog(dir.path);
      for (const population of doomed) expectLogComplete(log, population);

      // And the read models folded from that log hold nothing of them (the API's 404s could hide it).
      const events = new SqliteEventStore(join(dir.path, 'events.sqlite'));
      try {
        const readModels = new MemoryReadModelStore();
        await new ProjectionRunner(events, readModels, PROJECTIONS, pino({ level: 'silent' })).rebuild();
        for (const population of doomed) assert.deepEqual(await leftIn(readModels, population.organizationId), []);
        assert.notDeepEqual(await leftIn(readModels, bystander.organizationId), [], 'the bystander is still there');
      } finally {
        await events.close();
      }
    } finally {
      await stopServiceProcess(service, 'SIGKILL');
      dir.remove();
    }
  });
});
