import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { READ_MODEL_SNAPSHOT_FILE } from '../../src/infra/memory/read-model-snapshot.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { GlobalPosition } from '../../src/ports/event-store.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { populatedOrganization } from '../support/tenants.js';

/**
 * The in-memory read models are saved with the position they stand at when
 * the service stops, and a start loads them and applies only the events after
 * that position. Whatever goes wrong with the file (another projection
 * version, another log, a truncated or corrupt file), the start folds the
 * whole log instead and answers the same.
 */

interface Readiness {
  status: string;
  replayedEvents?: number;
  snapshot?: { restored: boolean; restoredPosition?: string; reason?: string; savedPosition?: string };
  failures: Record<string, string>;
}

/** Shutdown-only snapshots: no timer can write one in the middle of a test. */
const ENV = { READ_MODEL_SNAPSHOT_SECONDS: '0' };

async function ready(server: TestServer): Promise<Readiness> {
  return eventually(async () => {
    const response = await fetch(`${server.baseUrl}/readyz`);
    const body = (await response.json()) as Readiness;
    return response.status === 200 && body;
  }, 30_000);
}

/** Every list of one organization, and the list of organizations, as the API answers them. */
async function lists(server: TestServer, organizationId: string): Promise<Record<string, unknown>> {
  const base = `/api/v1/organizations/${organizationId}`;
  const paths = ['/api/v1/organizations', base, ...['users', 'groups', 'projects', 'allocations', 'serviceaccounts', 'oauth2providers', 'applications', 'quotas'].map((p) => `${base}/${p}`)];
  const answers: Record<string, unknown> = {};
  for (const path of paths) {
    const response = await server.api(path);
    assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
    answers[path] = await response.json();
  }
  return answers;
}

/** How many events the log holds (read while no service runs). */
async function eventCount(dataDir: string): Promise<number> {
  const store = new SqliteEventStore(join(dataDir, 'events.sqlite'));
  let count = 0;
  let after: GlobalPosition | undefined;
  for (;;) {
    const page = await store.readAll({ after, maxCount: 1000 });
    if (page.length === 0) break;
    count += page.length;
    after = page[page.length - 1]!.position;
  }
  await store.close();
  return count;
}

/** Rewrite the snapshot file's header (its first line). */
function editHeader(file: string, edit: (header: any) => void): void {
  const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n');
  const header = JSON.parse(lines[0]!);
  edit(header);
  lines[0] = JSON.stringify(header);
  writeFileSync(file, gzipSync(lines.join('\n')));
}

describe('read-model snapshot across restarts', () => {
  const dir = tempDir();
  const snapshotFile = join(dir.path, READ_MODEL_SNAPSHOT_FILE);
  let server: TestServer | undefined;
  let organizationId = '';
  let expected: Record<string, unknown> = {};
  let marker = '';
  after(async () => {
    await server?.stop();
    dir.remove();
  });

  const restart = async (env: Record<string, string> = ENV) => {
    await server?.stop();
    server = undefined;
    server = await startTestServer({ dataDir: dir.path, env });
    return ready(server);
  };

  test('a graceful stop saves the read models (0600); the next start loads them and applies no event', async () => {
    server = await startTestServer({ dataDir: dir.path, env: ENV });
    await ready(server);
    const populated = await populatedOrganization(server, 'snap');
    organizationId = populated.organizationId;
    marker = populated.marker;
    expected = await lists(server, organizationId);
    assert.equal(existsSync(snapshotFile), false, 'no snapshot before the stop (READ_MODEL_SNAPSHOT_SECONDS=0)');

    await server.stop();
    server = undefined;
    assert.ok(existsSync(snapshotFile), 'the stop saved a snapshot');
    assert.equal(statSync(snapshotFile).mode & 0o777, 0o600);
    assert.equal(existsSync(`${snapshotFile}.tmp`), false);
    const total = await eventCount(dir.path);
    assert.ok(total > 10);
    const text = gunzipSync(readFileSync(snapshotFile)).toString('utf8');
    assert.ok(!text.includes(`secret-${marker}`), 'an identity provider\'s client secret is not in the snapshot');

    const readiness = await restart();
    assert.equal(readiness.snapshot?.restored, true, JSON.stringify(readiness));
    assert.equal(readiness.replayedEvents, 0, 'nothing was appended while stopped: nothing to apply');
    assert.deepEqual(await lists(server!, organizationId), expected);
  });

  test('events appended while stopped (by another instance) are applied after the snapshot, and only they', async () => {
    await server!.stop();
    server = undefined;
    const before = await eventCount(dir.path);
    // Another instance on the same DATA_DIR that neither loads nor saves snapshots: the file stays behind the log.
    const other = await startTestServer({ dataDir: dir.path, env: { READ_MODEL_SNAPSHOTS: 'false' } });
    await ready(other);
    const user = await other.api(`/api/v1/organizations/${organizationId}/users`, {
      method: 'POST',
      json: { metadata: { name: `late-${marker}` }, spec: { subject: `late-${marker}@example.com`, state: 'active', groupIDs: [] } },
    });
    assert.equal(user.status, 201, await user.clone().text());
    const userId = ((await user.json()) as { metadata: { id: string } }).metadata.id;
    const withLateUser = await lists(other, organizationId);
    await other.stop();
    const appended = (await eventCount(dir.path)) - before;
    assert.ok(appended > 0);

    const readiness = await restart();
    assert.equal(readiness.snapshot?.restored, true, JSON.stringify(readiness));
    assert.equal(readiness.replayedEvents, appended, 'only the tail was applied');
    const answers = await lists(server!, organizationId);
    assert.deepEqual(answers, withLateUser);
    assert.ok(JSON.stringify(answers).includes(userId));
    expected = answers;
  });

  test('a snapshot of another projection version is ignored: the whole log is folded, same answers', async () => {
    await server!.stop();
    server = undefined;
    editHeader(snapshotFile, (header) => {
      header.projections.find((p: { name: string }) => p.name === header.projections[0].name).version += 1;
    });
    const total = await eventCount(dir.path);
    const readiness = await restart();
    assert.equal(readiness.snapshot?.restored, false);
    assert.match(readiness.snapshot?.reason ?? '', /projections changed/);
    assert.equal(readiness.replayedEvents, total);
    assert.deepEqual(await lists(server!, organizationId), expected);
    assert.ok(server!.logs.some((line) => line.includes('read-model snapshot ignored')));
  });

  test('a snapshot of an older file format is ignored: the whole log is folded, same answers', async () => {
    await server!.stop();
    server = undefined;
    editHeader(snapshotFile, (header) => {
      header.format = 'identity-read-models/0';
    });
    const total = await eventCount(dir.path);
    const readiness = await restart();
    assert.equal(readiness.snapshot?.restored, false);
    assert.match(readiness.snapshot?.reason ?? '', /another format/);
    assert.equal(readiness.replayedEvents, total);
    assert.deepEqual(await lists(server!, organizationId), expected);
  });

  test('a truncated snapshot file is ignored with a warning, no crash: whole log, same answers', async () => {
    await server!.stop();
    server = undefined;
    const total = await eventCount(dir.path);
    truncateSync(snapshotFile, Math.floor(statSync(snapshotFile).size / 2));
    const readiness = await restart();
    assert.equal(readiness.snapshot?.restored, false);
    assert.match(readiness.snapshot?.reason ?? '', /unreadable snapshot file/);
    assert.equal(readiness.replayedEvents, total);
    assert.deepEqual(await lists(server!, organizationId), expected);
    assert.ok(server!.logs.some((line) => line.includes('"level":40') && line.includes('read-model snapshot ignored')));
  });

  test('a snapshot cut short at a line boundary (valid gzip, no trailer) is ignored', async () => {
    await server!.stop();
    server = undefined;
    const total = await eventCount(dir.path);
    const lines = gunzipSync(readFileSync(snapshotFile)).toString('utf8').split('\n');
    assert.ok(lines.length > 5);
    writeFileSync(snapshotFile, gzipSync(lines.slice(0, lines.length - 3).join('\n') + '\n'));
    const readiness = await restart();
    assert.equal(readiness.snapshot?.restored, false);
    assert.match(readiness.snapshot?.reason ?? '', /cut short|documents missing/);
    assert.equal(readiness.replayedEvents, total);
    assert.deepEqual(await lists(server!, organizationId), expected);
  });

  test('a corrupt snapshot file (not gzip at all, or bytes flipped) is ignored', async () => {
    await server!.stop();
    server = undefined;
    const good = readFileSync(snapshotFile);
    const flipped = Buffer.from(good);
    for (let i = 20; i < flipped.length - 20; i += 97) flipped[i] = flipped[i]! ^ 0xff;
    for (const bytes of [Buffer.from('this is not a snapshot\n'), flipped]) {
      await (server as TestServer | undefined)?.stop();
      server = undefined;
      writeFileSync(snapshotFile, bytes);
      const readiness = await restart();
      assert.equal(readiness.snapshot?.restored, false);
      assert.match(readiness.snapshot?.reason ?? '', /unreadable snapshot file/);
      assert.deepEqual(await lists(server!, organizationId), expected);
    }
  });

  test('a snapshot from another log is ignored', async () => {
    await server!.stop();
    server = undefined;
    assert.ok(existsSync(snapshotFile));
    // A fresh DATA_DIR with its own, different log, and this log's snapshot copied into it.
    const elsewhere = tempDir();
    try {
      const other = await startTestServer({ dataDir: elsewhere.path, env: { READ_MODEL_SNAPSHOTS: 'false' } });
      await ready(other);
      await populatedOrganization(other, 'other');
      await other.stop();
      copyFileSync(snapshotFile, join(elsewhere.path, READ_MODEL_SNAPSHOT_FILE));
      const restarted = await startTestServer({ dataDir: elsewhere.path, env: ENV });
      try {
        const readiness = await ready(restarted);
        assert.equal(readiness.snapshot?.restored, false);
        assert.match(readiness.snapshot?.reason ?? '', /another or a reset log/);
        const organizations = await (await restarted.api(`/api/v1/organizations/${organizationId}`)).status;
        assert.equal(organizations, 404, 'none of the other log\'s organizations');
      } finally {
        await restarted.stop();
      }
    } finally {
      elsewhere.remove();
    }
  });

  test('READ_MODEL_SNAPSHOT_SECONDS: saved periodically while the read models move', async () => {
    server = await startTestServer({ dataDir: dir.path, env: { READ_MODEL_SNAPSHOT_SECONDS: '1' } });
    const first = await ready(server);
    const created = await server.api(`/api/v1/organizations/${organizationId}/groups`, {
      method: 'POST',
      json: { metadata: { name: `periodic-${marker}` }, spec: { roleIDs: ['reader'] } },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const saved = await eventually(async () => {
      const body = (await (await fetch(`${server!.baseUrl}/readyz`)).json()) as Readiness;
      return body.snapshot?.savedPosition !== undefined && body.snapshot.savedPosition !== first.snapshot?.restoredPosition && body;
    }, 15_000);
    assert.ok(saved.snapshot?.savedPosition);
    assert.equal(statSync(snapshotFile).mode & 0o777, 0o600);
  });
});
