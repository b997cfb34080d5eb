import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { eventually, startTestServer } from './support/server.js';
import { freshDatabase, postgresSkipReason } from './support/postgres.js';

const skip = await postgresSkipReason();

const orgBody = (name: string) => ({ metadata: { name, description: `${name} organization`, tags: [] }, spec: { organizationType: 'adhoc' } });

describe('the service on PostgreSQL (DATABASE_URL)', { skip }, () => {
  test('creates and reads through HTTP with the log, checkpoints and Idempotency-Keys in PostgreSQL, and keeps them across a restart', async () => {
    const url = await freshDatabase();
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    let server = await startTestServer({ env: { DATABASE_URL: url } });
    try {
      const post = () => server.api('/api/v1/organizations', { method: 'POST', json: orgBody('pg-acme'), headers: { 'Idempotency-Key': 'pg-key-1' } });
      const response = await post();
      assert.equal(response.status, 202, await response.clone().text());
      const created = (await response.json()) as { metadata: { id: string } };
      const read = await eventually(async () => {
        const answer = await server.api(`/api/v1/organizations/${created.metadata.id}`);
        const body = (await answer.json()) as { metadata: { name: string; provisioningStatus: string } };
        return answer.status === 200 && body.metadata.provisioningStatus === 'provisioned' && body;
      });
      assert.equal(read.metadata.name, 'pg-acme');

      // The events are in PostgreSQL, not in an embedded file.
      const stored = await db.query<{ type: string }>(`SELECT type FROM events WHERE stream_name = $1 ORDER BY revision`, [`organization-${created.metadata.id}`]);
      assert.deepEqual(stored.rows.map((r) => r.type), ['organization.created', 'organization.tenant_number.assigned', 'organization.provisioned']);
      assert.equal(existsSync(join(server.dataDir, 'events.sqlite')), false, 'no embedded event file');
      // The provisioning process manager keeps its checkpoint there.
      await eventually(async () => (await db.query('SELECT 1 FROM checkpoints')).rowCount! > 0);
      // An Idempotency-Key retry is answered from the record in PostgreSQL.
      const retry = await post();
      assert.equal(retry.status, 202);
      assert.equal(retry.headers.get('idempotent-replayed'), 'true');
      assert.equal((await db.query(`SELECT state FROM idempotency_keys`)).rows[0]?.state, 'done');

      // A restart reads everything back from the database.
      const dataDir = server.dataDir;
      await server.stop();
      server = await startTestServer({ dataDir, env: { DATABASE_URL: url } });
      const again = await server.api(`/api/v1/organizations/${created.metadata.id}`);
      assert.equal(again.status, 200);
      assert.deepEqual(await again.json(), read);
    } finally {
      await server.close();
      await db.end();
    }
  });

  test('a DATABASE_URL that is not a PostgreSQL URL, or one beside EVENTSTORE_CONNECTION_STRING, stops the start with a message', async () => {
    const { loadConfig } = await import('../src/config.js');
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://u:secret-pw@h/db' }), (error: Error) => /DATABASE_URL: must be a postgres/.test(error.message) && !error.message.includes('secret-pw'));
    assert.throws(() => loadConfig({ DATABASE_URL: 'postgres://h/db', EVENTSTORE_CONNECTION_STRING: 'esdb://h:2113' }), /not both/);
    assert.equal(loadConfig({ DATABASE_URL: 'postgresql://h/db' }).DATABASE_URL, 'postgresql://h/db');
  });
});
