/**
 * npm run bench:cluster (docs/benchmarks.md, "Several instances"):
 * (a) appends per second, 64 writers of single-event appends, on PostgreSQL
 *     beside SQLite in the same run;
 * (b) admin-API writes (POST a group) and reads (GET an organization) per
 *     second through one instance and spread over three, on one PostgreSQL;
 * (c) refresh-token rotations per second, sessions spread over three instances.
 * PostgreSQL: DATABASE_URL's server, else an embedded one (as the tests).
 * Options: --seconds N (per case, default 5), --concurrency N (HTTP clients, default 32).
 */
import { join } from 'node:path';
import { PgEventStore } from '../src/infra/postgres/pg-event-store.js';
import { SqliteEventStore } from '../src/infra/sqlite/sqlite-event-store.js';
import type { EventStore } from '../src/ports/event-store.js';
import { type Cluster, type ClusterInstance, startCluster } from '../test/support/cluster.js';
import { testEvent } from '../test/support/events.js';
import { createTenant, createUser, refreshRequest, signIn, type Tenant } from '../test/support/oidc.js';
import { freshDatabase, postgresSkipReason } from '../test/support/postgres.js';
import { tempDir } from '../test/support/temp.js';
import { fmtInt, parseOptions, printTable } from './bench/report.js';

const options = parseOptions(
  process.argv.slice(2),
  { seconds: { flag: '--seconds', min: 1, max: 600, integer: true }, concurrency: { flag: '--concurrency', min: 1, max: 1024, integer: true } },
  { seconds: 5, concurrency: 32 },
  'usage: npm run bench:cluster -- [--seconds N] [--concurrency N]',
);

/** Run `work` from `workers` loops for `seconds`; answers completed operations per second and the failures. */
async function rate(seconds: number, workers: number, work: (worker: number, i: number) => Promise<boolean>): Promise<{ perSecond: number; failures: number }> {
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  let failures = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; Date.now() < deadline; i++) {
        if (await work(worker, i)) done++;
        else failures++;
      }
    }),
  );
  return { perSecond: done / ((Date.now() - started) / 1000), failures };
}

async function appends(store: EventStore, seconds: number): Promise<number> {
  const result = await rate(seconds, 64, async (worker, i) => {
    await store.appendToStream(`bench-${worker}`, [testEvent('bench.appended', { i })], { expectedRevision: 'any' });
    return true;
  });
  return result.perSecond;
}

async function adminThroughput(instances: readonly ClusterInstance[], organizationId: string, seconds: number, concurrency: number) {
  const writes = await rate(seconds, concurrency, async (worker, i) => {
    const instance = instances[(worker + i) % instances.length]!;
    const response = await instance.api(`/api/v1/organizations/${organizationId}/groups`, {
      method: 'POST',
      json: { metadata: { name: `g-${instances.length}-${worker}-${i}-${Date.now()}` }, spec: { roleIDs: [] } },
    });
    await response.arrayBuffer();
    return response.status === 201 || response.status === 202;
  });
  const reads = await rate(seconds, concurrency, async (worker, i) => {
    const instance = instances[(worker + i) % instances.length]!;
    const response = await instance.api(`/api/v1/organizations/${organizationId}`);
    await response.arrayBuffer();
    return response.status === 200;
  });
  return { writes, reads };
}

async function refreshes(cluster: Cluster, tenant: Tenant, seconds: number, concurrency: number) {
  // One session per client loop, each refreshed in turn on the next instance. Logins one at a time: each is a
  // password hash, and the hash queue answers 503 beyond its bound.
  // A user each: a new login of the same user through the same client ends the session before it.
  const sessions: string[] = [];
  for (let i = 0; i < concurrency; i++) {
    const email = `bench-${i}-${Date.now()}@example.com`;
    await createUser(cluster.instances[0]!.asServer, tenant.organizationId, email, tenant.password);
    sessions.push((await signIn(cluster.instances[0]!.asServer, { ...tenant, email })).refresh_token!);
  }
  return rate(seconds, concurrency, async (worker, i) => {
    const instance = cluster.instances[(worker + i) % cluster.instances.length]!;
    const response = await refreshRequest(instance.asServer, tenant, sessions[worker]!);
    const body = (await response.json()) as { refresh_token?: string };
    if (response.status !== 200 || !body.refresh_token) return false;
    sessions[worker] = body.refresh_token;
    return true;
  });
}

async function main(): Promise<void> {
  const skip = await postgresSkipReason();
  if (skip) {
    console.log(skip);
    return;
  }
  const { seconds, concurrency } = options;
  console.log(`bench:cluster: ${seconds} s per case, ${concurrency} HTTP clients`);

  // (a) Appends, 64 writers, SQLite then PostgreSQL.
  const dir = tempDir('bench-cluster-');
  const sqlite = new SqliteEventStore(join(dir.path, 'events.sqlite'));
  const sqliteRate = await appends(sqlite, seconds);
  await sqlite.close();
  const pgStore = await PgEventStore.open(await freshDatabase());
  const pgRate = await appends(pgStore, seconds);
  await pgStore.close();
  dir.remove();
  console.log('\n(a) single-event appends, 64 writers');
  printTable(['engine', 'appends/s'], [['SQLite', fmtInt(sqliteRate)], ['PostgreSQL', fmtInt(pgRate)]]);

  // (b) and (c): one cluster of three on one database; the one-instance case uses the first of them only.
  const cluster = await startCluster({ size: 3, env: { THROTTLE_TOKEN_REQUESTS_PER_MINUTE: '1000000', LOG_LEVEL: 'error' } });
  try {
    const tenant = await createTenant(cluster.instances[0]!.asServer);
    const one = await adminThroughput(cluster.instances.slice(0, 1), tenant.organizationId, seconds, concurrency);
    const three = await adminThroughput(cluster.instances, tenant.organizationId, seconds, concurrency);
    console.log('\n(b) admin API through one instance and spread over three (one PostgreSQL)');
    printTable(
      ['instances', 'writes/s (POST group)', 'write failures', 'reads/s (GET organization)', 'read failures'],
      [
        ['1', fmtInt(one.writes.perSecond), String(one.writes.failures), fmtInt(one.reads.perSecond), String(one.reads.failures)],
        ['3', fmtInt(three.writes.perSecond), String(three.writes.failures), fmtInt(three.reads.perSecond), String(three.reads.failures)],
      ],
    );
    // Every instance must know the client before it can authenticate it.
    for (const instance of cluster.instances) {
      for (let i = 0; i < 200; i++) {
        if ((await instance.api(`/api/v1/organizations/${tenant.organizationId}/applications/${tenant.confidential.clientId}`)).status === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const rotations = await refreshes(cluster, tenant, seconds, Math.min(concurrency, 8));
    console.log('\n(c) refresh rotations over three instances');
    printTable(['sessions', 'rotations/s', 'failures'], [[String(Math.min(concurrency, 8)), fmtInt(rotations.perSecond), String(rotations.failures)]]);
  } finally {
    await cluster.stop();
  }
}

main()
  .then(() => process.exit(0))
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });
