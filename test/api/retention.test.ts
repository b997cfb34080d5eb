import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sessionStream } from '../../src/domain/session/events.js';
import { TOMBSTONE_EVENT_TYPE } from '../../src/domain/retention.js';
import { EvolvingEventStore } from '../../src/infra/events/evolving-event-store.js';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import { pino } from 'pino';
import type { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { SESSIONS } from '../../src/projections/sessions/projection.js';
import { PROJECTIONS } from '../../src/service.js';
import { createTenant, expectOAuthError, refreshRequest, signIn, type Tenant, tokenRequest, type Tokens, userinfoRequest } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

const DAY = 86_400_000;

/**
 * Retention through the real service: the scavenger runs as its timer would,
 * with a clock days ahead, and the real token endpoint answers the tokens
 * whose events it removed.
 */
describe('retention: token rotations and client-credentials tokens do not grow the log forever', () => {
  let server: TestServer;
  let tenant: Tenant;

  const refreshed = async (token: string): Promise<Tokens> => {
    const response = await refreshRequest(server, tenant, token);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as Tokens;
  };
  const raw = () => (server.service.stores.events as EvolvingEventStore).inner as SqliteEventStore;
  const typesOf = async (stream: string) => {
    // Through the adapter's own table, tombstones included.
    const rows = (raw() as unknown as { db: { prepare(sql: string): { all(...args: unknown[]): Array<{ type: string }> } } }).db
      .prepare('SELECT type FROM events WHERE stream_name = ? ORDER BY revision')
      .all(stream);
    return rows.map((row) => row.type);
  };
  const scavengeAt = (daysAhead: number) => server.service.retention.runOnce(new Date(Date.now() + daysAhead * DAY));

  before(async () => {
    server = await startTestServer({ env: { RETENTION_SCAVENGE_SECONDS: '0' } });
    tenant = await createTenant(server);
  });
  after(async () => server.close());

  test('a superseded generation: its rotations go after the retention; its tokens stay refused and the new session is untouched', async () => {
    const first = await signIn(server, tenant);
    const r1 = await refreshed(first.refresh_token!);
    const r2 = await refreshed(r1.refresh_token!);
    const second = await signIn(server, tenant);
    const stream = sessionStream(tenant.confidential.clientId, tenant.userId);

    assert.equal((await scavengeAt(6))?.removed, 0, 'not before the retention has passed');
    await scavengeAt(8);
    assert.deepEqual(await typesOf(stream), ['session.started', TOMBSTONE_EVENT_TYPE, TOMBSTONE_EVENT_TYPE, 'session.started'], 'logins stay');

    // Tokens whose issuing events are gone (and the first, whose event stays) are refused, without revoking the new session.
    for (const token of [first.refresh_token!, r1.refresh_token!, r2.refresh_token!]) await expectOAuthError(await refreshRequest(server, tenant, token), 400, 'invalid_grant');
    assert.equal((await userinfoRequest(server, second.access_token)).status, 200);
    const next = await refreshed(second.refresh_token!);
    assert.equal((await userinfoRequest(server, next.access_token)).status, 200, 'the new generation rotates on, at the next revision');
  });

  test('a live session keeps its rotations: after a scavenge, reuse of a rotated-away token still revokes the session', async () => {
    const login = await signIn(server, tenant);
    const r1 = await refreshed(login.refresh_token!);
    const r2 = await refreshed(r1.refresh_token!);
    await scavengeAt(8);
    const types = await typesOf(sessionStream(tenant.confidential.clientId, tenant.userId));
    assert.deepEqual(types.slice(-3), ['session.started', 'session.refreshed', 'session.refreshed'], 'a live generation loses nothing');

    await expectOAuthError(await refreshRequest(server, tenant, r1.refresh_token!), 400, 'invalid_grant');
    await expectOAuthError(await refreshRequest(server, tenant, r2.refresh_token!), 400, 'invalid_grant');
    assert.equal((await userinfoRequest(server, r2.access_token)).status, 401, 'reuse revoked the session');
  });

  test('a revoked generation: its rotations go, the token whose event is gone is still refused, and the revocation stays', async () => {
    const login = await signIn(server, tenant);
    const r1 = await refreshed(login.refresh_token!);
    const r2 = await refreshed(r1.refresh_token!);
    await expectOAuthError(await refreshRequest(server, tenant, r1.refresh_token!), 400, 'invalid_grant'); // reuse: revoked
    const stream = sessionStream(tenant.confidential.clientId, tenant.userId);
    await scavengeAt(8);
    const types = await typesOf(stream);
    assert.deepEqual(types.slice(-4), ['session.started', TOMBSTONE_EVENT_TYPE, TOMBSTONE_EVENT_TYPE, 'session.revoked']);
    for (const token of [r1.refresh_token!, r2.refresh_token!]) await expectOAuthError(await refreshRequest(server, tenant, token), 400, 'invalid_grant');
    assert.equal((await userinfoRequest(server, r2.access_token)).status, 401);
    // A new login works as before: a new generation after the tombstones and the revocation.
    const again = await signIn(server, tenant);
    assert.equal((await userinfoRequest(server, (await refreshed(again.refresh_token!)).access_token)).status, 200);
  });

  test('client credentials: N tokens within the window append one event and share one session; revocation ends them all', async () => {
    const credentials = { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret };
    const stream = sessionStream(tenant.confidential.clientId, tenant.confidential.clientId);
    const before = (await typesOf(stream)).length;
    const tokens: Tokens[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await tokenRequest(server, { grant_type: 'client_credentials' }, credentials);
      assert.equal(response.status, 200, await response.clone().text());
      tokens.push((await response.json()) as Tokens);
    }
    assert.deepEqual((await typesOf(stream)).slice(before), ['session.started'], 'one generation for five tokens');
    const usersOf = (token: string) => server.api(`/api/v1/organizations/${tenant.organizationId}/users`, { token });
    for (const { access_token } of tokens) assert.equal((await usersOf(access_token)).status, 403, 'authenticated (no group: no roles)');

    const revoke = await fetch(`${server.baseUrl}/oauth2/v2/revoke`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${credentials.clientId}:${credentials.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens[2]!.access_token }),
    });
    assert.equal(revoke.status, 200);
    for (const { access_token } of tokens) assert.equal((await usersOf(access_token)).status, 401, 'every token of the generation ended');
    const fresh = (await (await tokenRequest(server, { grant_type: 'client_credentials' }, credentials)).json()) as Tokens;
    assert.equal((await usersOf(fresh.access_token)).status, 403, 'the next request starts a new generation');
    assert.deepEqual((await typesOf(stream)).slice(before), ['session.started', 'session.revoked', 'session.started']);
  });

  test('a rebuild of the read models from the scavenged log gives the same sessions (and users) as the whole log did', async () => {
    await scavengeAt(8);
    const live = server.service.stores.readModels;
    const rebuilt = new MemoryReadModelStore();
    const runner = new ProjectionRunner(server.service.stores.events, rebuilt, PROJECTIONS, pino({ level: 'silent' }));
    await runner.rebuild();
    const byId = (docs: Array<{ _id: string }>) => [...docs].sort((a, b) => a._id.localeCompare(b._id));
    const sessions = byId(await live.collection<{ _id: string }>(SESSIONS).find({}));
    assert.ok(sessions.length > 0);
    assert.deepEqual(byId(await rebuilt.collection<{ _id: string }>(SESSIONS).find({})), sessions);
    assert.deepEqual(byId(await rebuilt.collection<{ _id: string }>('users').find({})), byId(await live.collection<{ _id: string }>('users').find({})));
  });
});
