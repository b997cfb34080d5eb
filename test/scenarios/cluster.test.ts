import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { advisoryKey } from '../../src/infra/postgres/pg-lease.js';
import { type Cluster, type ClusterInstance, clusterSkipReason, startCluster } from '../support/cluster.js';
import { authorize, createTenant, refreshRequest, signIn, type Tenant, tokenRequest, type Tokens, userinfoRequest } from '../support/oidc.js';
import { ADMIN_TOKEN, eventually } from '../support/server.js';
import { apiOf, childCount, expectChildrenGone, expectListsGone, populateOrganization } from '../processes/fixture.js';

const skip = await clusterSkipReason();
if (skip) console.log(`# ${skip}`);

/** Status and OAuth error code of each response, read in full. */
const outcomes = async (responses: Response[]) =>
  Promise.all(responses.map(async (response) => ({ status: response.status, body: (await response.json()) as Tokens & { error?: string } })));

/** The pid of the instance holding a lease, from PostgreSQL's lock table (the lease connection names its process). */
async function leaseHolderPid(databaseUrl: string, name: string): Promise<number | undefined> {
  const key = BigInt.asUintN(64, BigInt(advisoryKey(name)));
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ application_name: string }>(
      `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [(key >> 32n).toString(), (key & 0xffffffffn).toString()],
    );
    const pid = /pid=(\d+)/.exec(rows[0]?.application_name ?? '')?.[1];
    return pid === undefined ? undefined : Number(pid);
  } finally {
    await client.end();
  }
}

async function countDeleted(databaseUrl: string, after: number): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE position > $1 AND type LIKE '%.deleted'`, [after]);
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

async function headPosition(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return Number((await client.query<{ head: string | null }>('SELECT max(position) AS head FROM events')).rows[0]!.head ?? 0);
  } finally {
    await client.end();
  }
}

/** Until every instance knows the tenant's confidential client (each tails the log into its own read models). */
async function everyInstanceKnows(instances: ClusterInstance[], tenant: Tenant): Promise<void> {
  for (const instance of instances) {
    await eventually(
      async () => (await instance.api(`/api/v1/organizations/${tenant.organizationId}/applications/${tenant.confidential.clientId}`)).status === 200,
      10_000,
      50,
    );
  }
}

describe('three instances on one PostgreSQL', { skip, timeout: 600_000 }, () => {
  let cluster: Cluster;
  let tenant: Tenant;

  before(async () => {
    cluster = await startCluster({ size: 3 });
    tenant = await createTenant(cluster.instances[0]!.asServer);
    await everyInstanceKnows(cluster.instances, tenant);
  });
  after(async () => cluster?.stop());

  test('a write on one instance is read on the others: at once with the position header, eventually without', async () => {
    const [a, b, c] = cluster.instances as [ClusterInstance, ClusterInstance, ClusterInstance];
    const created = await a.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: `cross-${Date.now()}` }, spec: { organizationType: 'adhoc' } } });
    assert.ok(created.status === 201 || created.status === 202, `${created.status} ${await created.clone().text()}`);
    const position = created.headers.get('x-log-position');
    assert.ok(position, 'a write answers the log position it reached');
    const { metadata } = (await created.json()) as { metadata: { id: string } };
    // Read-your-writes (docs/operations.md): with the position, the very first read on another instance sees the write.
    for (const other of [b, c]) {
      const response = await other.api(`/api/v1/organizations/${metadata.id}`, { headers: { 'x-min-log-position': position } });
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(((await response.json()) as { metadata: { id: string } }).metadata.id, metadata.id);
    }
    const later = await a.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: `cross2-${Date.now()}` }, spec: { organizationType: 'adhoc' } } });
    const { metadata: second } = (await later.json()) as { metadata: { id: string } };
    for (const other of [b, c]) {
      const seen = await eventually(async () => {
        const response = await other.api(`/api/v1/organizations/${second.id}`);
        return response.status === 200 ? ((await response.json()) as { metadata: { id: string } }) : undefined;
      }, 5000, 20);
      assert.equal(seen.metadata.id, second.id);
    }
    // A token signed on one instance is accepted on another (shared signing keys).
    const tokens = await signIn(a.asServer, tenant);
    for (const other of [b, c]) await eventually(async () => (await userinfoRequest(other.asServer, tokens.access_token)).status === 200, 5000, 50);
  });

  test('60 concurrent refreshes of one session over three instances: exactly one succeeds', async () => {
    const tokens = await signIn(cluster.instances[0]!.asServer, tenant);
    const results = await outcomes(
      await Promise.all(Array.from({ length: 60 }, (_, i) => refreshRequest(cluster.instances[i % 3]!.asServer, tenant, tokens.refresh_token!))),
    );
    assert.equal(results.filter((r) => r.status === 200).length, 1, `statuses: ${results.map((r) => r.status).join(' ')}`);
    for (const loser of results.filter((r) => r.status !== 200)) {
      assert.equal(loser.status, 400);
      assert.equal(loser.body.error, 'invalid_grant');
    }
  });

  test('10 concurrent redemptions of one code over three instances: one winner, and its session is revoked', async () => {
    const { code, verifier } = await authorize(cluster.instances[0]!.asServer, {
      clientId: tenant.confidential.clientId,
      redirectUri: tenant.redirectUri,
      email: tenant.email,
      password: tenant.password,
    });
    const redeem = (instance: ClusterInstance) =>
      tokenRequest(
        instance.asServer,
        { grant_type: 'authorization_code', code, redirect_uri: tenant.redirectUri, code_verifier: verifier },
        { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret },
      );
    const results = await outcomes(await Promise.all(Array.from({ length: 10 }, (_, i) => redeem(cluster.instances[i % 3]!))));
    const winners = results.filter((r) => r.status === 200);
    assert.equal(winners.length, 1, `statuses: ${results.map((r) => r.status).join(' ')}`);
    for (const loser of results.filter((r) => r.status !== 200)) {
      assert.equal(loser.status, 400);
      assert.equal(loser.body.error, 'invalid_grant');
    }
    // The code was used more than once: the session it started is over, on every instance.
    const winner = winners[0]!.body;
    for (const instance of cluster.instances) await eventually(async () => (await userinfoRequest(instance.asServer, winner.access_token)).status === 401, 5000, 50);
    assert.equal((await refreshRequest(cluster.instances[1]!.asServer, tenant, winner.refresh_token!)).status, 400);
  });

  test('an organization cascade of 500+ children completes when the lease holder is SIGKILLed mid-way', async (t) => {
    const byPid = (pid: number | undefined) => cluster.instances.find((instance) => instance.process.child.pid === pid);
    const holder = byPid(await eventually(async () => leaseHolderPid(cluster.databaseUrl, 'organization-deletion'), 10_000, 100));
    assert.ok(holder, 'one of the three instances holds the cascade lease');
    const others = cluster.instances.filter((instance) => instance !== holder);
    const api = apiOf(others[0]!.baseUrl, ADMIN_TOKEN);
    const population = await populateOrganization(api, `cascade-${Date.now()}`, { users: 250, groups: 20, projects: 60, serviceAccounts: 60, applications: 60, identityProviders: 50 });
    assert.ok(childCount(population) >= 500, `${childCount(population)} children`);
    const { organizationId } = population;

    const before = await headPosition(cluster.databaseUrl);
    const response = await api(`/api/v1/organizations/${organizationId}`, { method: 'DELETE' });
    assert.equal(response.status, 202, await response.clone().text());
    // Mid-way: some children deleted by the holder, not all.
    await eventually(async () => (await countDeleted(cluster.databaseUrl, before)) >= 20, 60_000, 10);
    await cluster.kill(holder.index);
    const atKill = await countDeleted(cluster.databaseUrl, before);
    t.diagnostic(`killed the lease holder with ${atKill} of ${childCount(population) + 1} deletions in the log`);
    assert.ok(atKill < childCount(population), 'killed before the cascade finished');

    // Another instance takes the lease within seconds and finishes from the checkpoint.
    const successor = byPid(await eventually(async () => {
      const pid = await leaseHolderPid(cluster.databaseUrl, 'organization-deletion');
      return pid !== undefined && pid !== holder.process.child.pid ? pid : undefined;
    }, 10_000, 100));
    assert.ok(successor && successor !== holder, 'a surviving instance holds the lease');
    for (const survivor of others) {
      const survivorApi = apiOf(survivor.baseUrl, ADMIN_TOKEN);
      await eventually(async () => (await survivorApi(`/api/v1/organizations/${organizationId}`)).status === 404, 120_000, 100);
      await expectListsGone(survivorApi, organizationId);
    }
    await expectChildrenGone(api, population);
  });
});
