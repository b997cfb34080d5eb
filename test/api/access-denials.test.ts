import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { attribute } from '../../src/domain/audit/attribution.js';
import { LOGIN_RECORD_CATEGORIES, retentionPolicy } from '../../src/domain/retention.js';
import type { RecordedEvent } from '../../src/ports/event-store.js';
import { createTenant, signIn } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createOrganization, serviceAccountWithRoles } from '../support/tenants.js';

/** 403s on the admin API: access.denied, sampled per (caller, route) and minute, so a flood cannot flood the log. */
describe('access denials', () => {
  let server: TestServer;
  let org: string;
  let other: string;
  let reader: { token: string; serviceAccountId: string };
  let administrator: { token: string; serviceAccountId: string };

  before(async () => {
    server = await startTestServer();
    org = await createOrganization(server, 'denied');
    other = await createOrganization(server, 'elsewhere');
    reader = await serviceAccountWithRoles(server, org, ['reader']);
    administrator = await serviceAccountWithRoles(server, org, ['administrator']);
  });
  after(async () => server.close());

  const denials = async (organizationId = org): Promise<RecordedEvent[]> =>
    (await server.service.stores.events.readStream(`accessdenials-${organizationId}`)).filter((event) => event.type === 'access.denied');
  const ofRoute = (events: RecordedEvent[], callerId: string, method: string, route: string) =>
    events.filter((event) => {
      const data = event.data as { caller: { id: string }; method: string; route: string };
      return data.caller.id === callerId && data.method === method && data.route === route;
    });
  /** Every denial an event stands for: itself (but for a flush) and those it says were suppressed before it. */
  const accounted = (events: RecordedEvent[]) =>
    events.reduce((sum, event) => sum + ((event.data as { flush?: boolean }).flush ? 0 : 1) + (event.data as { suppressed: number }).suppressed, 0);

  test('a 403 is recorded: the caller, the organization, the route template (not the URL), the permission it lacked', async () => {
    const response = await server.api(`/api/v1/organizations/${org}/users?name=someone`, {
      method: 'POST',
      token: reader.token,
      json: { metadata: { name: 'x' }, spec: { subject: 'x@example.com', state: 'active', groupIDs: [] } },
    });
    assert.equal(response.status, 403);
    const [event, ...rest] = ofRoute(await denials(), reader.serviceAccountId, 'POST', '/api/v1/organizations/{organizationID}/users');
    assert.ok(event, 'an access.denied event');
    assert.equal(rest.length, 0);
    assert.deepEqual(event.data, {
      caller: { kind: 'service_account', id: reader.serviceAccountId },
      organizationId: org,
      method: 'POST',
      route: '/api/v1/organizations/{organizationID}/users',
      family: 'identity:users',
      operation: 'create',
      suppressed: 0,
    });
    assert.equal(event.metadata.actor.kind, 'service_account');
    assert.equal(event.metadata.correlationId, response.headers.get('x-request-id'));
    // The audit log files it under the organization.
    assert.deepEqual(attribute(event), { organizationId: org, resource: { kind: 'organization', id: org } });
  });

  test('a flood of 10,000 403s from one caller on one route writes a handful of events, and every denial is counted', async () => {
    const route = '/api/v1/organizations/{organizationID}/groups';
    const before = ofRoute(await denials(), reader.serviceAccountId, 'DELETE', `${route}/{groupid}`);
    assert.equal(before.length, 0);
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });
    const url = new URL(`${server.baseUrl}/api/v1/organizations/${org}/groups/some-group`);
    const { request } = await import('node:http');
    const one = () =>
      new Promise<number>((resolve, reject) => {
        const req = request(url, { method: 'DELETE', agent, headers: { authorization: `Bearer ${reader.token}` } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    const total = 10_000;
    const started = Date.now();
    const statuses = new Map<number, number>();
    let sent = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (sent < total) {
          sent++;
          const status = await one();
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
    agent.destroy();
    const seconds = (Date.now() - started) / 1000;
    assert.deepEqual([...statuses], [[403, total]]);
    const during = ofRoute(await denials(), reader.serviceAccountId, 'DELETE', `${route}/{groupid}`);
    // One event per minute the flood lasted (it starts a new window at most once a minute), plus one.
    assert.ok(during.length >= 1 && during.length <= Math.ceil(seconds / 60) + 1, `${during.length} events for ${total} denials in ${seconds} s`);
    assert.ok(during.length <= 3, `${during.length} events`);
    // The flush writes the count of the open window: nothing is lost.
    await server.service.denials.flush(true);
    const afterFlush = ofRoute(await denials(), reader.serviceAccountId, 'DELETE', `${route}/{groupid}`);
    assert.ok(afterFlush.length <= during.length + 1);
    const last = afterFlush.at(-1)!.data as { flush?: boolean; suppressed: number };
    assert.equal(last.flush, true);
    assert.ok(last.suppressed > 0);
    assert.equal(accounted(afterFlush), total);
    // A flush with nothing counted writes nothing.
    await server.service.denials.flush(true);
    assert.equal(ofRoute(await denials(), reader.serviceAccountId, 'DELETE', `${route}/{groupid}`).length, afterFlush.length);
  });

  test('each (caller, route) pair is sampled on its own', async () => {
    const path = `/api/v1/organizations/${org}/projects`;
    const project = { metadata: { name: 'p' }, spec: { groupIDs: [] } };
    for (let i = 0; i < 3; i++) assert.equal((await server.api(path, { method: 'POST', token: reader.token, json: project })).status, 403);
    assert.equal((await server.api(`/api/v1/organizations/${org}/quotas`, { method: 'PUT', token: reader.token, json: { quotas: [] } })).status, 403);
    const events = await denials();
    assert.equal(ofRoute(events, reader.serviceAccountId, 'POST', '/api/v1/organizations/{organizationID}/projects').length, 1);
    assert.equal(ofRoute(events, reader.serviceAccountId, 'PUT', '/api/v1/organizations/{organizationID}/quotas').length, 1);
  });

  test("another organization's caller is recorded in the organization it was refused in", async () => {
    const response = await server.api(`/api/v1/organizations/${other}/users`, { token: administrator.token });
    assert.equal(response.status, 403);
    const [event] = ofRoute(await denials(other), administrator.serviceAccountId, 'GET', '/api/v1/organizations/{organizationID}/users');
    assert.ok(event);
    assert.equal((event.data as { organizationId: string }).organizationId, other);
    assert.equal((event.data as { family: string }).family, 'identity:users');
  });

  test('a refusal the handler decides (not a missing permission) is recorded without a family; outside organizations on the platform stream', async () => {
    assert.equal((await server.api(`/api/v1/organizations/${other}/acl`, { token: reader.token })).status, 403);
    const [acl] = ofRoute(await denials(other), reader.serviceAccountId, 'GET', '/api/v1/organizations/{organizationID}/acl');
    assert.ok(acl);
    assert.equal((acl.data as { family?: string }).family, undefined);

    const create = await server.api('/api/v1/organizations', { method: 'POST', token: administrator.token, json: { metadata: { name: 'mine' }, spec: { organizationType: 'adhoc' } } });
    assert.equal(create.status, 403);
    const platform = (await server.service.stores.events.readStream('accessdenials-platform')).filter((event) => event.type === 'access.denied');
    const [event] = ofRoute(platform, administrator.serviceAccountId, 'POST', '/api/v1/organizations');
    assert.ok(event);
    assert.equal((event.data as { organizationId?: string }).organizationId, undefined);
  });

  test('what is not a 403 of an authenticated caller is not recorded: no token (401), a bad token, a 404', async () => {
    const before = (await server.service.stores.events.readAll()).filter((event) => event.type === 'access.denied').length;
    assert.equal((await server.api(`/api/v1/organizations/${org}/users`, { token: null })).status, 401);
    assert.equal((await server.api(`/api/v1/organizations/${org}/users`, { token: 'not-a-token' })).status, 401);
    assert.equal((await server.api(`/api/v1/organizations/${org}/users/nobody`, { token: reader.token })).status, 404);
    const after = (await server.service.stores.events.readAll()).filter((event) => event.type === 'access.denied').length;
    assert.equal(after, before);
  });

  test('a signed-in user without a role: recorded as a user, its id beside its email in the actor (so erasure seals it)', async () => {
    const tenant = await createTenant(server);
    const { access_token } = await signIn(server, tenant);
    assert.equal((await server.api(`/api/v1/organizations/${tenant.organizationId}/groups`, { token: access_token })).status, 403);
    const [event] = ofRoute(await denials(tenant.organizationId), tenant.userId, 'GET', '/api/v1/organizations/{organizationID}/groups');
    assert.ok(event);
    assert.deepEqual((event.data as { caller: unknown }).caller, { kind: 'user', id: tenant.userId });
    assert.equal(event.metadata.actor.kind, 'user');
    assert.equal((event.metadata.actor as { id?: string }).id, tenant.userId);
  });

  test('the streams are kept as login records are (LOGIN_RECORD_RETENTION_SECONDS)', () => {
    assert.ok((LOGIN_RECORD_CATEGORIES as readonly string[]).includes('accessdenials-'));
    const policy = retentionPolicy({ sessionEventRetentionMs: 1, userActivityRetentionMs: 1, refreshAbsoluteLifetimeMs: 1, refreshIdleLifetimeMs: 1, loginRecordRetentionMs: 1000 });
    assert.ok(policy.categories.includes('accessdenials-'));
  });
});
