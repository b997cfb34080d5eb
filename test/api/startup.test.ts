import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { testEvent } from '../support/events.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

/**
 * A start over a long log: the read models catch up in the background, and
 * meanwhile the service is alive (/healthz) and says how far it is (/readyz 503
 * with its position and the target), so that an orchestrator's liveness probe
 * does not kill it before it is ready.
 */
describe('start-up over a long log', () => {
  const dir = tempDir();
  let server: TestServer | undefined;
  after(async () => {
    await server?.close();
    dir.remove();
  });

  test('/healthz answers while the read models catch up; /readyz is 503 with progress, then 200', async () => {
    const store = new SqliteEventStore(join(dir.path, 'events.sqlite'));
    const orgId = '00000000-0000-4000-8000-000000000001';
    for (let batch = 0; batch < 60; batch++) {
      const events = Array.from({ length: 1000 }, (_, i) =>
        testEvent('user.activity.recorded', { userId: `u-${batch}-${i}`, organizationId: orgId, at: '2026-01-01T00:00:00.000Z' }),
      );
      await store.appendToStream(`useractivity-bulk-${batch}`, events, { expectedRevision: 'no_stream' });
    }
    await store.close();

    server = await startTestServer({ dataDir: dir.path });
    let aliveWhileCatchingUp = false;
    let progress: { position?: string; target?: string } | undefined;
    for (;;) {
      const [health, ready]: Response[] = await Promise.all([fetch(`${server.baseUrl}/healthz`), fetch(`${server.baseUrl}/readyz`)]);
      assert.equal(health.status, 200);
      const body = (await ready.json()) as { status: string; position?: string; target?: string };
      if (ready.status === 200) break;
      assert.equal(ready.status, 503);
      assert.equal(body.status, 'not_ready');
      aliveWhileCatchingUp = true;
      progress = body;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(aliveWhileCatchingUp, 'the service answered before its read models had caught up');
    assert.ok(progress?.target, '/readyz says what it is catching up to');
  });
});
