/**
 * A rolling deploy: a newer instance shares the log and writes first. This
 * instance then meets event types it does not know, versions newer than it
 * knows, and (from a bug, or an older shape nobody upcast) events its schema
 * refuses. None of them may turn a command into a 500, freeze a read model or
 * hold /readyz at 503: they are skipped, counted and reported with their stream
 * and position.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import type { NewEvent } from '../../src/ports/event-store.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { createOrganization, created } from '../support/tenants.js';

/** An event as a newer instance would write it: any type, any data, a chosen schema version. */
const foreignEvent = (type: string, data: unknown, schemaVersion?: number): NewEvent => ({
  type,
  data,
  metadata: {
    eventId: uuidv7(),
    occurredAt: new Date().toISOString(),
    actor: { subject: 'newer-instance', kind: 'system' },
    correlationId: 'rolling-deploy',
    causationId: 'rolling-deploy',
    ...(schemaVersion !== undefined && { schemaVersion }),
  },
});

interface Readiness {
  status: string;
  position?: string;
  failures: Record<string, string>;
  unreadableEvents: {
    count: number;
    last?: { streamName: string; revision: number; position: string; type: string; schemaVersion: number; problem: string };
  };
}

describe('rolling deploy: events this version cannot read', () => {
  let server: TestServer;
  let org: string;
  const users = () => `/api/v1/organizations/${org}/users`;
  const readiness = async () => {
    const response = await server.api('/readyz', { token: null });
    return { status: response.status, body: (await response.json()) as Readiness };
  };
  const userBody = (subject: string, name: string) => ({ metadata: { name }, spec: { subject, state: 'active', groupIDs: [] } });
  const append = async (stream: string, event: NewEvent) => {
    const [last] = await server.service.stores.events.readStream(stream, { direction: 'backwards', maxCount: 1 });
    return server.service.stores.events.appendToStream(stream, [event], { expectedRevision: last ? last.revision : 'no_stream' });
  };

  const dir = tempDir();

  before(async () => {
    server = await startTestServer({ dataDir: dir.path });
    org = await createOrganization(server, 'rolling-org');
  });
  after(async () => {
    await server.close();
    dir.remove();
  });

  test('an unknown event type in a user stream and in the log: PUT still answers 200, /readyz stays ready, the projection carries on', async () => {
    const user = await created(server, users(), userBody('una@example.com', 'una'));
    const id = user.metadata.id as string;
    const inUserStream = await append(`user-${id}`, foreignEvent('user.nickname.changed', { userId: id, organizationId: org, nickname: 'U' }));
    const elsewhere = await append(`badge-${uuidv7()}`, foreignEvent('badge.awarded', { badge: 'gold' }));

    const put = await server.api(`${users()}/${id}`, { method: 'PUT', json: userBody('una@example.com', 'una-renamed') });
    assert.equal(put.status, 200, await put.clone().text());
    assert.equal(((await put.json()) as any).metadata.name, 'una-renamed');

    // The projection went past both: a user created after them is listed.
    const later = await created(server, users(), userBody('later@example.com', 'later'));
    const got = await server.api(`${users()}/${later.metadata.id}`);
    assert.equal(got.status, 200);

    const { status, body } = await readiness();
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.status, 'ready');
    assert.ok(body.unreadableEvents.count >= 2, JSON.stringify(body));
    assert.equal(body.unreadableEvents.last?.streamName.startsWith('badge-'), true, JSON.stringify(body));
    assert.equal(body.unreadableEvents.last?.problem, 'unknown_type');
    assert.equal(body.unreadableEvents.last?.position, `${elsewhere.position.commit}/${elsewhere.position.prepare}`);

    // A warning names the stream and the position of each.
    await eventually(async () =>
      server.logs.some((line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        return entry.level === 40 && entry.streamName === `user-${id}` && entry.position === `${inUserStream.position.commit}/${inUserStream.position.prepare}`;
      }),
    );
  });

  test('an event of a future schema version is skipped, not misread', async () => {
    const user = await created(server, users(), userBody('vera@example.com', 'vera'));
    const id = user.metadata.id as string;
    // Version 7 of user.updated has a shape this version has never seen.
    await append(`user-${id}`, foreignEvent('user.updated', { userId: id, organizationId: org, profile: { name: 'v7-name' } }, 7));

    const get = await server.api(`${users()}/${id}`);
    assert.equal(((await get.json()) as any).metadata.name, 'vera');
    const put = await server.api(`${users()}/${id}`, { method: 'PUT', json: userBody('vera@example.com', 'vera-2') });
    assert.equal(put.status, 200, await put.clone().text());
    assert.equal(((await (await server.api(`${users()}/${id}`)).json()) as any).metadata.name, 'vera-2');

    const { status, body } = await readiness();
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.unreadableEvents.last?.problem, 'future_version');
    assert.equal(body.unreadableEvents.last?.schemaVersion, 7);
    assert.equal(body.unreadableEvents.last?.streamName, `user-${id}`);
  });

  test('an event its schema refuses (an older shape nobody upcast) is reported, and readiness does not freeze', async () => {
    const user = await created(server, users(), userBody('olga@example.com', 'olga'));
    const id = user.metadata.id as string;
    // A known type and today's version, but without the fields today's schema requires.
    const bad = await append(`user-${id}`, foreignEvent('user.updated', { userId: id, displayName: 'Olga' }));

    const { status, body } = await readiness();
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body.failures, {});
    assert.equal(body.unreadableEvents.last?.problem, 'invalid');
    assert.equal(body.unreadableEvents.last?.position, `${bad.position.commit}/${bad.position.prepare}`);
    assert.equal(body.unreadableEvents.last?.revision, bad.nextExpectedRevision);

    const put = await server.api(`${users()}/${id}`, { method: 'PUT', json: userBody('olga@example.com', 'olga-2') });
    assert.equal(put.status, 200, await put.clone().text());
    // The process managers carried on too: a new organization is still provisioned.
    const next = await createOrganization(server, 'rolling-org-after');
    await eventually(async () => {
      const organization = (await (await server.api(`/api/v1/organizations/${next}`)).json()) as any;
      return organization.metadata.provisioningStatus === 'provisioned';
    });
  });

  test('after a restart over the same log, the service is ready and reports the same events', async () => {
    const before = (await readiness()).body.unreadableEvents.count;
    await server.stop();
    server = await startTestServer({ dataDir: dir.path });
    await eventually(async () => (await readiness()).status === 200);
    const { body } = await readiness();
    assert.equal(body.unreadableEvents.count, before, JSON.stringify(body));
    const list = await server.api(users());
    assert.equal(list.status, 200);
  });

  test('a session stream whose newest event is of an unknown type still refreshes: the newest readable event is its state', async () => {
    const { createTenant, signIn, refreshRequest } = await import('../support/oidc.js');
    const tenant = await createTenant(server);
    const tokens = await signIn(server, tenant);
    const stream = `session-${tenant.confidential.clientId}-${tenant.userId}`;
    await append(stream, foreignEvent('session.device.bound', { deviceId: 'd-1' }));
    const response = await refreshRequest(server, tenant, tokens.refresh_token!);
    assert.equal(response.status, 200, await response.clone().text());
  });
});
