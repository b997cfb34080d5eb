import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { EvolvingEventStore } from '../../src/infra/events/evolving-event-store.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { parsePosition, positionToString, type RecordedEvent } from '../../src/ports/event-store.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { testEvent } from '../support/events.js';
import { authorize, authorizationUrl, createTenant, pkcePair, submitLogin, tokenRequest } from '../support/oidc.js';

const WAIT_MS = 1500;

const orgBody = (name: string) => ({ metadata: { name }, spec: { organizationType: 'adhoc' } });

async function expectError(response: Response, status: number, error: string, description?: RegExp) {
  const text = await response.text();
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${text}`);
  const body = JSON.parse(text) as { error: string; error_description: string };
  assert.equal(body.error, error);
  if (description) assert.match(body.error_description, description);
  return body;
}

/**
 * Another instance on the same log: a second connection to the same events
 * file. Its appends do not wake this instance's subscription (SQLite wakes
 * subscribers in-process), so this instance's read models stay behind them
 * until its own next commit: the situation of an instance behind a load
 * balancer that has not applied a write made on another.
 */
describe('read-your-writes: X-Log-Position and X-Min-Log-Position', () => {
  let server: TestServer;
  let other: SqliteEventStore;
  before(async () => {
    server = await startTestServer({ env: { READ_YOUR_WRITES_WAIT_MS: String(WAIT_MS) } });
    other = new SqliteEventStore(join(server.dataDir, 'events.sqlite'));
  });
  after(async () => {
    await other.close();
    await server.close();
  });

  /** Append on "the other instance" a copy of an organization's creation, under a new id and name; answers its id and position. */
  async function createOrganizationElsewhere(template: RecordedEvent, name: string): Promise<{ id: string; position: string }> {
    const id = uuidv7();
    const data = { ...(template.data as Record<string, unknown>), organizationId: id, name };
    const appended = await other.appendToStream(`organization-${id}`, [{ type: template.type, data, metadata: { ...template.metadata, eventId: uuidv7() } }], {
      expectedRevision: 'no_stream',
    });
    return { id, position: positionToString(appended.position) };
  }

  async function organizationCreatedTemplate(): Promise<RecordedEvent> {
    const response = await server.api('/api/v1/organizations', { method: 'POST', json: orgBody(`template-${Date.now()}`) });
    assert.equal(response.status, 202);
    const { metadata } = (await response.json()) as { metadata: { id: string } };
    const raw = (server.service.stores.events as EvolvingEventStore).inner;
    const [created] = await raw.readStream(`organization-${metadata.id}`, { maxCount: 1 });
    assert.equal(created?.type, 'organization.created');
    return created!;
  }

  test('a value that is not a position is a 400 naming the header, before any authentication', async () => {
    for (const bad of ['abc', '1', '1/2/3', '-1/-1', '1/ 2', '0x10/0x10', `${'9'.repeat(21)}/1`, '1/1;drop', '']) {
      const response = await server.api('/api/v1/organizations', { headers: { 'X-Min-Log-Position': bad }, token: null });
      await expectError(response, 400, 'invalid_request', /X-Min-Log-Position/);
    }
  });

  test('a position beyond the head of the log is a 400 at once, not a wait', async () => {
    const head = await server.service.stores.events.headPosition();
    const far = (head?.commit ?? 0n) + 1000n;
    const ahead = positionToString({ commit: far, prepare: far });
    const started = Date.now();
    const response = await server.api('/api/v1/organizations', { headers: { 'X-Min-Log-Position': ahead } });
    await expectError(response, 400, 'invalid_request', /not reached/);
    assert.ok(Date.now() - started < WAIT_MS / 2, 'answered without waiting');
  });

  test('a failed login answers no position, for a real account as for a made-up one; a login and a token issuance do', async () => {
    const tenant = await createTenant(server);
    const { challenge } = pkcePair();
    const url = authorizationUrl(server, {
      response_type: 'code',
      client_id: tenant.confidential.clientId,
      redirect_uri: tenant.redirectUri,
      scope: 'openid offline_access',
      state: 'st',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    // The real account's failure is recorded (not awaited); the answer must not tell it apart from an unknown email's.
    for (let i = 0; i < 5; i++) {
      for (const email of [tenant.email, `nobody-${i}@example.com`]) {
        const { response } = await submitLogin(url, email, 'wrong password');
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('x-log-position'), null, email);
      }
    }
    const { code, verifier, location } = await authorize(server, { clientId: tenant.confidential.clientId, redirectUri: tenant.redirectUri, email: tenant.email, password: tenant.password });
    assert.ok(location.searchParams.get('code'));
    const tokens = await tokenRequest(
      server,
      { grant_type: 'authorization_code', code, redirect_uri: tenant.redirectUri, code_verifier: verifier },
      { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret },
    );
    assert.equal(tokens.status, 200);
    assert.match(tokens.headers.get('x-log-position') ?? '', /^\d+\/\d+$/);
  });

  test('a write answers the position it reached; a read does not; a refused write appends nothing and says nothing', async () => {
    const before = await server.service.stores.events.headPosition();
    const response = await server.api('/api/v1/organizations', { method: 'POST', json: orgBody('rw-acme') });
    assert.equal(response.status, 202);
    const header = response.headers.get('x-log-position');
    assert.ok(header, 'X-Log-Position on the write');
    const position = parsePosition(header);
    assert.ok(position.commit > (before?.commit ?? 0n));
    // The organization's creation is among the events up to that position.
    const { metadata } = (await response.json()) as { metadata: { id: string } };
    const [created] = await server.service.stores.events.readStream(`organization-${metadata.id}`, { maxCount: 1 });
    assert.ok(created!.position.commit <= position.commit);

    const read = await server.api(`/api/v1/organizations/${metadata.id}`, { headers: { 'X-Min-Log-Position': header } });
    assert.equal(read.status, 200);
    assert.equal(read.headers.get('x-log-position'), null);

    const refused = await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: {} } });
    assert.equal(refused.status, 400);
    assert.equal(refused.headers.get('x-log-position'), null);
  });

  test('behind the position asked for: the request waits until the read models apply it, then sees the write', async () => {
    const template = await organizationCreatedTemplate();
    const elsewhere = await createOrganizationElsewhere(template, `elsewhere-${Date.now()}`);
    // Without the header: this instance does not know it yet.
    assert.equal((await server.api(`/api/v1/organizations/${elsewhere.id}`)).status, 404);

    const started = Date.now();
    const waiting = server.api(`/api/v1/organizations/${elsewhere.id}`, { headers: { 'X-Min-Log-Position': elsewhere.position } });
    // Meanwhile this instance commits something of its own, which wakes its subscription to the log.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await server.api('/api/v1/organizations', { method: 'POST', json: orgBody(`wake-${Date.now()}`) })).status, 202);
    const response = await waiting;
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(((await response.json()) as { metadata: { id: string } }).metadata.id, elsewhere.id);
    assert.ok(Date.now() - started >= 150, 'it waited for the read models');
  });

  test('still behind after READ_YOUR_WRITES_WAIT_MS: a 503 with Retry-After, never a stale answer', async () => {
    const template = await organizationCreatedTemplate();
    const elsewhere = await createOrganizationElsewhere(template, `late-${Date.now()}`);
    const started = Date.now();
    const response = await server.api(`/api/v1/organizations/${elsewhere.id}`, { headers: { 'X-Min-Log-Position': elsewhere.position } });
    await expectError(response, 503, 'temporarily_unavailable', /read models have not reached/);
    assert.equal(response.headers.get('retry-after'), '1');
    const waited = Date.now() - started;
    assert.ok(waited >= WAIT_MS - 50 && waited < WAIT_MS + 2000, `waited ${waited} ms`);
    // Once this instance catches up (its next commit), the same request is answered.
    assert.equal((await server.api('/api/v1/organizations', { method: 'POST', json: orgBody(`wake2-${Date.now()}`) })).status, 202);
    const again = await server.api(`/api/v1/organizations/${elsewhere.id}`, { headers: { 'X-Min-Log-Position': elsewhere.position } });
    assert.equal(again.status, 200);
  });

  test('/readyz fails while the read models are more than READY_MAX_LAG_EVENTS behind the log', async () => {
    const lagging = await startTestServer({ env: { READY_MAX_LAG_EVENTS: '20' } });
    const elsewhere = new SqliteEventStore(join(lagging.dataDir, 'events.sqlite'));
    try {
      const ready = await lagging.api('/readyz', { token: null });
      assert.equal(ready.status, 200);
      assert.equal(((await ready.json()) as { lagEvents: number }).lagEvents, 0);
      // 20 events behind is allowed...
      for (let i = 0; i < 20; i++) await elsewhere.appendToStream(`lagtest-${i}`, [testEvent('lagtest.happened')], { expectedRevision: 'no_stream' });
      const allowed = await lagging.api('/readyz', { token: null });
      assert.equal(allowed.status, 200);
      assert.equal(((await allowed.json()) as { lagEvents: number }).lagEvents, 20);
      // ...21 is not.
      await elsewhere.appendToStream('lagtest-20', [testEvent('lagtest.happened')], { expectedRevision: 'no_stream' });
      const behind = await lagging.api('/readyz', { token: null });
      assert.equal(behind.status, 503);
      const body = (await behind.json()) as { status: string; lagEvents: number; failures: Record<string, string> };
      assert.equal(body.status, 'not_ready');
      assert.equal(body.lagEvents, 21);
      assert.match(body.failures.lag!, /21 events behind the log \(READY_MAX_LAG_EVENTS is 20\)/);
      // Its next commit wakes it: it catches up and is ready again.
      assert.equal((await lagging.api('/api/v1/organizations', { method: 'POST', json: orgBody('catch-up') })).status, 202);
      await eventually(async () => (await lagging.api('/readyz', { token: null })).status === 200);
    } finally {
      await elsewhere.close();
      await lagging.close();
    }
  });
});
