import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { PgListener } from '../../src/infra/postgres/pg-listener.js';
import { eventually } from '../support/server.js';
import { freshDatabase, postgresSkipReason } from '../support/postgres.js';

const skip = await postgresSkipReason();
if (skip) console.log(`# ${skip}`);

describe('LISTEN connections on PostgreSQL', { skip }, () => {
  // Person keys hear erasures and the throttle relay hears failures this way: a listener that gave up after one failed
  // reconnect would leave an instance serving keys another instance destroyed.
  test('after its connection dies, it keeps trying while the server refuses connections, and hears again once it can', async () => {
    const url = await freshDatabase();
    const database = new URL(url).pathname.slice(1);
    const heard: string[] = [];
    let lost = 0;
    const listener = new PgListener({ connectionString: url, channel: 'test_channel', applicationName: 'test listener', retryMs: 100, onNotification: (p) => heard.push(p), onLost: () => lost++ });
    // ALTER DATABASE from another database of the same server.
    const adminUrl = new URL(url);
    adminUrl.pathname = '/postgres';
    const admin = new pg.Client({ connectionString: adminUrl.toString() });
    await admin.connect();
    try {
      await listener.start();
      const first = new pg.Client({ connectionString: url });
      await first.connect();
      await first.query(`SELECT pg_notify('test_channel', 'one')`);
      await first.end();
      await eventually(async () => heard.includes('one'), 3000);

      await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'test listener'`);
      // Several refused attempts.
      await eventually(async () => lost >= 4, 5000);
      await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
      await eventually(async () => (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'test listener'`)).rowCount === 1, 5000);
      assert.ok(lost >= 4, `lost ${lost} times`);
      const notifier = new pg.Client({ connectionString: url });
      await notifier.connect();
      await eventually(async () => {
        await notifier.query(`SELECT pg_notify('test_channel', 'two')`);
        return heard.includes('two');
      }, 5000);
      await notifier.end();
    } finally {
      await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`).catch(() => undefined);
      await listener.close();
      await admin.end();
    }
  });
});
