import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setLeaseHeld } from '../../src/infra/metrics/metrics.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { testEvent } from '../support/events.js';
import { authorizationUrl, createTenant, pkcePair, signIn, submitLogin, tokenRequest } from '../support/oidc.js';
import { freePort, startServiceProcess, stopServiceProcess } from '../support/process.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdefghijklmnopqrstuvwxyz';

/** The value of one sample of the Prometheus text format, or undefined when there is none with exactly these labels. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.keys(found).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe('GET /metrics', () => {
  let server: TestServer;
  const scrape = async (): Promise<string> => {
    const response = await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(response.status, 200);
    return response.text();
  };
  before(async () => {
    // No tree head signed on a timer (every 60 s by default): its event is a commit of this instance, which would
    // wake the subscriptions in the middle of the lag test below and deliver the other instance's events early.
    server = await startTestServer({ env: { METRICS_TOKEN, LEDGER_TREE_HEAD_SECONDS: '3600' } });
  });
  after(async () => server.close());

  test('is not served on the public port without METRICS_TOKEN, not even to the platform administrator', async () => {
    const open = await startTestServer();
    try {
      const response = await open.api('/metrics');
      assert.equal(response.status, 404);
      assert.doesNotMatch(await response.text(), /identity_|process_cpu/);
    } finally {
      await open.close();
    }
  });

  test('with METRICS_TOKEN: only for that bearer token', async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${ADMIN_TOKEN}` },
      { authorization: `Bearer ${METRICS_TOKEN}x` },
      { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}` },
      { authorization: `Basic ${Buffer.from(`metrics:${METRICS_TOKEN}`).toString('base64')}` },
      { authorization: METRICS_TOKEN },
    ];
    for (const headers of attempts) {
      const response = await fetch(`${server.baseUrl}/metrics`, { headers });
      assert.equal(response.status, 401, JSON.stringify(headers));
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/);
      const body = (await response.json()) as { error: string };
      assert.equal(body.error, 'access_denied');
    }
    const response = await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    // prom-client's default process metrics are on.
    assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, 'process metrics');
    assert.ok(sample(text, 'nodejs_heap_size_used_bytes') !== undefined, 'heap metrics');
  });

  test('request latency by method, route pattern and status: never the raw path', async () => {
    const created = await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: 'metrics-acme' }, spec: { organizationType: 'adhoc' } } });
    assert.equal(created.status, 202);
    const id = ((await created.json()) as { metadata: { id: string } }).metadata.id;
    const route = { method: 'GET', route: '/api/v1/organizations/:organizationID', status: '200' };
    const before = sample(await scrape(), 'identity_http_request_duration_seconds_count', route) ?? 0;
    for (let i = 0; i < 3; i++) assert.equal((await server.api(`/api/v1/organizations/${id}`)).status, 200);
    const missing = `no-such-path-${Date.now()}`;
    assert.equal((await server.api(`/${missing}`)).status, 404);
    const text = await scrape();
    assert.equal(sample(text, 'identity_http_request_duration_seconds_count', route), before + 3);
    assert.ok((sample(text, 'identity_http_request_duration_seconds_bucket', { ...route, le: '+Inf' }) ?? 0) >= 3);
    assert.ok((sample(text, 'identity_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/organizations', status: '202' }) ?? 0) >= 1);
    assert.ok((sample(text, 'identity_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status: '404' }) ?? 0) >= 1);
    assert.ok(!text.includes(id), 'no resource id in a label');
    assert.ok(!text.includes(missing), 'no raw path in a label');
  });

  test('event-store commits: duration, batch size, events written', async () => {
    const engine = { engine: 'sqlite' };
    const before = await scrape();
    const commits = sample(before, 'identity_event_store_append_duration_seconds_count', engine) ?? 0;
    const events = sample(before, 'identity_event_store_appended_events_total', engine) ?? 0;
    const writes = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: `batch-${i}` }, spec: { organizationType: 'adhoc' } } }),
      ),
    );
    for (const response of writes) assert.equal(response.status, 202);
    const text = await scrape();
    const commitsAfter = sample(text, 'identity_event_store_append_duration_seconds_count', engine)!;
    assert.ok(commitsAfter > commits, 'commits observed');
    // Eight organizations: at least eight creations (and tenant numbers) written.
    assert.ok(sample(text, 'identity_event_store_appended_events_total', engine)! >= events + 8);
    const appends = sample(text, 'identity_event_store_append_batch_size_sum', engine)!;
    assert.ok(appends >= sample(text, 'identity_event_store_append_batch_size_count', engine)!, 'every commit holds one append or more');
    assert.ok(sample(text, 'identity_event_store_append_duration_seconds_sum', engine)! > 0);
  });

  /**
   * Wait until this instance writes nothing more of its own (the organizations of the tests before are provisioned
   * asynchronously): the in-process store wakes its subscriptions on its own commits, and one of them would also
   * deliver the other instance's events below, which is what made this test flaky under load.
   */
  const settled = async (): Promise<string> => {
    const quiet = (text: string) =>
      sample(text, 'identity_projection_lag_events') === 0 &&
      ['provisioning', 'organization-deletion', 'session-revocation'].every((process) => sample(text, 'identity_process_manager_lag_events', { process }) === 0);
    let previous = await scrape();
    for (let attempt = 0; attempt < 100; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const text = await scrape();
      const written = (t: string) => sample(t, 'identity_event_store_appended_events_total', { engine: 'sqlite' });
      if (quiet(previous) && quiet(text) && written(previous) === written(text)) return text;
      previous = text;
    }
    assert.fail('the service kept writing for 30 s');
  };

  test('projection and process-manager lag: events behind the head of the log', async () => {
    const written = (t: string) => sample(t, 'identity_event_store_appended_events_total', { engine: 'sqlite' });
    // A commit of this instance in the middle (a late process, a timer) wakes its subscriptions, which then read the
    // other instance's events too: that round says nothing about the gauge, and is run again.
    for (let round = 0; round < 5; round++) {
      let text = await settled();
      assert.equal(sample(text, 'identity_projection_lag_events'), 0);
      for (const process of ['provisioning', 'organization-deletion', 'session-revocation']) {
        assert.ok(sample(text, 'identity_process_manager_lag_events', { process }) !== undefined, `${process} lag: ${text.split('\n').filter((l) => l.includes('process_manager_lag')).join('\n')}`);
      }
      const ownBefore = written(text);
      // Another instance appends to the log; this one has not applied those events yet.
      const elsewhere = new SqliteEventStore(join(server.dataDir, 'events.sqlite'));
      try {
        for (let i = 0; i < 7; i++) await elsewhere.appendToStream(`lag-${Date.now()}-${round}-${i}`, [testEvent('lagtest.happened')], { expectedRevision: 'no_stream' });
      } finally {
        await elsewhere.close();
      }
      text = await scrape();
      if (written(text) !== ownBefore) {
        // A commit of this instance's own wakes its subscriptions, which then apply whatever they have not read yet.
        await server.service.stores.events.appendToStream(`lag-wake-${Date.now()}-${round}`, [testEvent('lagtest.woken')], { expectedRevision: 'no_stream' });
        continue;
      }
      assert.equal(sample(text, 'identity_projection_lag_events'), 7);
      assert.equal(sample(text, 'identity_process_manager_lag_events', { process: 'provisioning' }), 7);
      return;
    }
    assert.fail('this instance kept committing during five rounds');
  });

  test('lease ownership, as the cluster sets it', async () => {
    setLeaseHeld('process-managers', true);
    assert.equal(sample(await scrape(), 'identity_lease_held', { name: 'process-managers' }), 1);
    setLeaseHeld('process-managers', false);
    assert.equal(sample(await scrape(), 'identity_lease_held', { name: 'process-managers' }), 0);
  });

  test('logins and token requests by outcome; no secret in any label', async () => {
    const tenant = await createTenant(server);
    const before = await scrape();
    const count = (text: string, name: string, labels: Record<string, string>) => sample(text, name, labels) ?? 0;

    // A wrong password, for a real account and for an unknown one.
    const { challenge } = pkcePair();
    const login = (email: string) =>
      submitLogin(
        authorizationUrl(server, {
          response_type: 'code',
          client_id: tenant.confidential.clientId,
          redirect_uri: tenant.redirectUri,
          scope: 'openid',
          state: 'st',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        }),
        email,
        'not the password',
      );
    assert.equal((await login(tenant.email)).response.status, 200);
    assert.equal((await login('nobody@example.com')).response.status, 200);
    // A good one, with its code exchanged.
    await signIn(server, tenant);
    // Client credentials: issued, a wrong secret, an unsupported grant.
    const basic = { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret };
    assert.equal((await tokenRequest(server, { grant_type: 'client_credentials' }, basic)).status, 200);
    assert.equal((await tokenRequest(server, { grant_type: 'client_credentials' }, { ...basic, secret: 'wrong' })).status, 401);
    assert.equal((await tokenRequest(server, { grant_type: 'password', username: 'a', password: 'b' }, basic)).status, 400);
    assert.equal((await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: 'made-up' }, basic)).status, 400);

    const text = await scrape();
    const delta = (name: string, labels: Record<string, string>) => count(text, name, labels) - count(before, name, labels);
    assert.equal(delta('identity_logins_total', { method: 'password', outcome: 'wrong_password' }), 2);
    assert.equal(delta('identity_logins_total', { method: 'password', outcome: 'succeeded' }), 1);
    assert.equal(delta('identity_token_requests_total', { grant_type: 'authorization_code', outcome: 'issued' }), 1);
    assert.equal(delta('identity_token_requests_total', { grant_type: 'client_credentials', outcome: 'issued' }), 1);
    assert.equal(delta('identity_token_requests_total', { grant_type: 'client_credentials', outcome: 'invalid_client' }), 1);
    assert.equal(delta('identity_token_requests_total', { grant_type: 'other', outcome: 'unsupported_grant_type' }), 1);
    assert.equal(delta('identity_token_requests_total', { grant_type: 'refresh_token', outcome: 'invalid_grant' }), 1);
    for (const secret of [tenant.password, tenant.confidential.clientSecret, tenant.email, METRICS_TOKEN, ADMIN_TOKEN]) {
      assert.ok(!text.includes(secret), 'no secret or personal data in the metrics');
    }
  });
});

describe('METRICS_PORT', () => {
  test('serves GET /metrics without authentication on its own port, and nothing else there; the public port has none', async () => {
    const data = tempDir();
    const metricsPort = await freePort();
    const service = await startServiceProcess({ DATA_DIR: data.path, METRICS_PORT: String(metricsPort), IDENTITY_BOOTSTRAP_TOKEN: ADMIN_TOKEN });
    try {
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
      const text = await metrics.text();
      assert.ok(sample(text, 'identity_projection_lag_events') !== undefined);
      assert.ok(sample(text, 'process_resident_memory_bytes') !== undefined || sample(text, 'process_cpu_user_seconds_total') !== undefined);
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 404);
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST' })).status, 404);
      assert.equal((await fetch(`${service.baseUrl}/metrics`)).status, 404);
    } finally {
      await stopServiceProcess(service);
      data.remove();
    }
  });
});
