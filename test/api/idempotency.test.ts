import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Request } from 'express';
import { Idempotency, SECRET_RETAIN_MS } from '../../src/api/http/idempotency.js';
import { HttpError } from '../../src/api/http/errors.js';
import { SecretSealer } from '../../src/infra/secrets/sealer.js';
import { SqliteIdempotencyStore } from '../../src/infra/sqlite/sqlite-idempotency-store.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createOrganization, serviceAccountWithRoles } from '../support/tenants.js';
import { tempDir } from '../support/temp.js';

describe('Idempotency-Key on POST', () => {
  let server: TestServer;
  let organizationId: string;
  const apps = () => `/api/v1/organizations/${organizationId}/applications`;
  const appBody = (name: string) => ({ metadata: { name }, spec: { redirectURIs: ['https://app.example.com/cb'], grantTypes: ['client_credentials'], public: false, groupIDs: [] } });

  before(async () => {
    server = await startTestServer();
    organizationId = await createOrganization(server, `idem-${Date.now()}`);
  });
  after(() => server.close());

  const post = (path: string, json: unknown, key?: string, token?: string) =>
    server.api(path, { method: 'POST', json, headers: key === undefined ? {} : { 'Idempotency-Key': key }, ...(token && { token }) });

  test('a retry with the same key and body gets the first answer, one-time secret included, and nothing happens twice', async () => {
    const first = await post(apps(), appBody('retried'), 'key-1');
    assert.equal(first.status, 201);
    const created = (await first.json()) as { metadata: { id: string }; status: { clientSecret: string } };
    assert.ok(created.status.clientSecret);
    const retry = await post(apps(), appBody('retried'), 'key-1');
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await retry.json(), created);
    const list = (await (await server.api(`${apps()}?filterBy=name==retried`)).json()) as unknown[];
    assert.equal(list.length, 1);
    // Without a key, the same request is a new one: a conflict on the name.
    assert.equal((await post(apps(), appBody('retried'))).status, 409);
  });

  test('the same key with another body is a 422; a malformed key a 400', async () => {
    assert.equal((await post(apps(), appBody('first-body'), 'key-2')).status, 201);
    const other = await post(apps(), appBody('second-body'), 'key-2');
    assert.equal(other.status, 422);
    assert.match(((await other.json()) as { error_description: string }).error_description, /different request/);
    // The order of keys does not make another body.
    const reordered = { spec: appBody('first-body').spec, metadata: { name: 'first-body' } };
    assert.equal((await post(apps(), reordered, 'key-2')).status, 201);
    assert.equal((await post(apps(), appBody('x'), 'k'.repeat(256))).status, 400);
    assert.equal((await post(apps(), appBody('x'), 'bad key')).status, 400);
  });

  test('keys belong to their caller: another caller with the same key makes its own request', async () => {
    const robot = await serviceAccountWithRoles(server, organizationId, ['administrator']);
    assert.equal((await post(apps(), appBody('mine'), 'shared-key')).status, 201);
    const theirs = await post(apps(), appBody('theirs'), 'shared-key', robot.token);
    assert.equal(theirs.status, 201, await theirs.clone().text());
    assert.equal(theirs.headers.get('idempotent-replayed'), null);
  });

  test('concurrent requests with one key make one resource', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(apps(), appBody('concurrent'), 'key-concurrent')));
    const statuses = answers.map((r) => r.status);
    assert.ok(statuses.every((s) => s === 201 || s === 409), statuses.join(','));
    assert.ok(statuses.includes(201));
    const list = (await (await server.api(`${apps()}?filterBy=name==concurrent`)).json()) as unknown[];
    assert.equal(list.length, 1);
  });

  test('a failed request is not kept: a retry runs again', async () => {
    const groupBody = { metadata: { name: 'g' }, spec: { roleIDs: ['administrator'], userIDs: ['no-such-user'], serviceAccountIDs: [] } };
    const groups = `/api/v1/organizations/${organizationId}/groups`;
    const failed = await post(groups, groupBody, 'key-failed');
    assert.ok(failed.status >= 400 && failed.status < 500, String(failed.status));
    const again = await post(groups, groupBody, 'key-failed');
    assert.equal(again.status, failed.status);
    assert.equal(again.headers.get('idempotent-replayed'), null);
  });

  test('answers survive a restart', async () => {
    const first = await post(apps(), appBody('durable'), 'key-durable');
    assert.equal(first.status, 201);
    const body = await first.json();
    await server.stop();
    server = await startTestServer({ dataDir: server.dataDir });
    const retry = await post(apps(), appBody('durable'), 'key-durable');
    assert.equal(retry.status, 201);
    assert.deepEqual(await retry.json(), body);
  });
});

describe('Idempotency, over time', () => {
  const dir = tempDir();
  const store = new SqliteIdempotencyStore(join(dir.path, 'events.sqlite'));
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const idempotency = new Idempotency(store, SecretSealer.forDataDir(dir.path), () => clock.now);
  after(async () => {
    await store.close();
    dir.remove();
  });
  const request = (key: string, body: unknown) =>
    ({ method: 'POST', originalUrl: '/api/v1/x', body, get: (name: string) => (name.toLowerCase() === 'idempotency-key' ? key : undefined) }) as unknown as Request;
  const caller = { subject: 'admin', kind: 'user', platformAdministrator: false, organizationId: 'o', principalId: 'u1' } as const;

  test('an answer with a one-time secret is replayed for 10 minutes, then a retry gets a 409 that says why', async () => {
    let runs = 0;
    const handle = async () => ({ status: 201, headers: {}, body: { secret: `s-${++runs}` } });
    assert.deepEqual((await idempotency.run(request('k', { a: 1 }), caller, { oneTimeSecret: true }, handle)).body, { secret: 's-1' });
    clock.now += SECRET_RETAIN_MS - 1000;
    assert.deepEqual((await idempotency.run(request('k', { a: 1 }), caller, { oneTimeSecret: true }, handle)).body, { secret: 's-1' });
    clock.now += 2000;
    await assert.rejects(idempotency.run(request('k', { a: 1 }), caller, { oneTimeSecret: true }, handle), (error: unknown) => {
      assert.ok(error instanceof HttpError);
      assert.equal(error.status, 409);
      assert.match(error.message, /one-time secret/);
      return true;
    });
    assert.equal(runs, 1, 'never ran twice');
  });

  test('after 24 hours a key is forgotten; the stored answer is sealed at rest', async () => {
    let runs = 0;
    const handle = async () => ({ status: 201, headers: {}, body: { email: 'personal@example.com', n: ++runs } });
    await idempotency.run(request('day', {}), caller, { oneTimeSecret: false }, handle);
    clock.now += 23 * 3600_000;
    assert.equal(((await idempotency.run(request('day', {}), caller, { oneTimeSecret: false }, handle)).body as { n: number }).n, 1);
    const { readdirSync, readFileSync } = await import('node:fs');
    for (const file of readdirSync(dir.path)) assert.ok(!readFileSync(join(dir.path, file)).includes('personal@example.com'), `${file}: sealed, not in clear`);
    clock.now += 2 * 3600_000;
    assert.equal(((await idempotency.run(request('day', {}), caller, { oneTimeSecret: false }, handle)).body as { n: number }).n, 2);
  });
});
