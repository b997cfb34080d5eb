import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { READ_MODEL_SNAPSHOT_FILE } from '../../src/infra/memory/read-model-snapshot.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

/**
 * A large snapshot loads in the background, a slice of work at a time, so
 * the service answers /healthz all along (an orchestrator's liveness probe)
 * while /readyz says 503; then it is ready without applying any event.
 */

const ENV = { READ_MODEL_SNAPSHOT_SECONDS: '0' };
/** Small documents, many to a chunk of the file: a load that gave a turn only between chunks would answer a few times, not dozens. */
const BULK = 200_000;

/** Add documents to one collection of a snapshot file (the header, and so the log check, stay as they are). */
function inflate(file: string, collection: string, documents: object[]): void {
  const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter((line) => line !== '');
  const out: string[] = [];
  let inSection = false;
  for (const line of lines) {
    const value = JSON.parse(line) as { collection?: string; count?: number; end?: boolean; documents?: number; _id?: string };
    if (value._id === undefined && value.collection !== undefined) {
      inSection = value.collection === collection;
      out.push(inSection ? JSON.stringify({ collection, count: value.count! + documents.length }) : line);
      if (inSection) for (const doc of documents) out.push(JSON.stringify(doc));
    } else if (value.end === true) {
      out.push(JSON.stringify({ end: true, documents: value.documents! + documents.length }));
    } else out.push(line);
  }
  writeFileSync(file, gzipSync(`${out.join('\n')}\n`));
}

describe('a large read-model snapshot', () => {
  const dir = tempDir();
  let server: TestServer | undefined;
  after(async () => {
    await server?.stop();
    dir.remove();
  });

  test('loads in the background: /healthz answers throughout while /readyz is 503, then ready from it', async () => {
    server = await startTestServer({ dataDir: dir.path, env: ENV });
    const created = await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: 'bulk-snapshot' }, spec: { organizationType: 'adhoc' } } });
    assert.equal(created.status, 202, await created.clone().text());
    await server.stop();
    server = undefined;

    const file = join(dir.path, READ_MODEL_SNAPSHOT_FILE);
    inflate(
      file,
      'sessions',
      // Random subjects: the gzipped file stays over 1 MiB (a smaller one is loaded before the service answers).
      Array.from({ length: BULK }, (_, i) => ({ _id: `bulk-${i}`, subjectId: randomBytes(8).toString('hex') })),
    );
    assert.ok(statSync(file).size > 1024 * 1024, 'large enough to load in the background');

    server = await startTestServer({ dataDir: dir.path, env: ENV });
    let answeredWhileLoading = 0;
    let ready: { replayedEvents?: number; snapshot?: { restored: boolean } } | undefined;
    while (!ready) {
      const [health, readiness]: Response[] = await Promise.all([fetch(`${server.baseUrl}/healthz`), fetch(`${server.baseUrl}/readyz`)]);
      assert.equal(health.status, 200);
      const body = (await readiness.json()) as typeof ready & { status: string };
      if (readiness.status === 200) ready = body;
      else {
        assert.equal(readiness.status, 503);
        answeredWhileLoading++;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    assert.equal(ready.snapshot?.restored, true, JSON.stringify(ready));
    // Only what the process managers appended after the last save (the organization's provisioning), not the log.
    assert.ok((ready.replayedEvents ?? Infinity) < 10, JSON.stringify(ready));
    // A load in one piece would leave room for an answer or two before it starts, none during it; one giving a turn only between chunks of the file, about one per chunk (7 here).
    assert.ok(answeredWhileLoading >= 20, `/healthz and /readyz answered ${answeredWhileLoading} times during the load`);
    assert.ok(server.logs.some((line) => line.includes('read models loaded from their snapshot')));
  });
});
