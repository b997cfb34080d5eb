import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, eventually, startTestServer, type TestServer } from '../support/server.js';

const orgBody = (name: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name, description: `${name} organization`, tags: [{ name: 'tier', value: 'gold' }] },
  spec: { organizationType: 'adhoc' },
  ...extra,
});

async function expectError(response: Response, status: number, error: string, description?: RegExp) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  assert.match(response.headers.get('content-type') ?? '', /application\/json/);
  const body = (await response.json()) as { error: string; error_description: string };
  assert.equal(body.error, error);
  assert.equal(typeof body.error_description, 'string');
  if (description) assert.match(body.error_description, description);
  return body;
}

describe('organizations API', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => server.close());

  test('POST answers 202 with the organization, and a GET right after sees it', async () => {
    const response = await server.api('/api/v1/organizations', { method: 'POST', json: orgBody('acme') });
    assert.equal(response.status, 202);
    const created = (await response.json()) as any;
    assert.equal(created.metadata.name, 'acme');
    assert.equal(created.metadata.description, 'acme organization');
    assert.deepEqual(created.metadata.tags, [{ name: 'tier', value: 'gold' }]);
    assert.equal(created.metadata.createdBy, 'platform-administrator');
    assert.ok(!Number.isNaN(Date.parse(created.metadata.creationTime)));
    // Accepted, not done: the provisioning process marks it provisioned shortly after.
    assert.ok(['provisioning', 'provisioned'].includes(created.metadata.provisioningStatus), created.metadata.provisioningStatus);
    assert.equal(created.metadata.healthStatus, 'healthy');
    assert.deepEqual(created.spec, { organizationType: 'adhoc' });
    assert.ok(!('_id' in created) && !('_position' in created));

    const read = await eventually(async () => {
      const response = await server.api(`/api/v1/organizations/${created.metadata.id}`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as any;
      return body.metadata.provisioningStatus === 'provisioned' && body;
    });
    assert.deepEqual(read, { ...created, metadata: { ...created.metadata, provisioningStatus: 'provisioned' } });
    const types = (await server.service.stores.events.readStream(`organization-${created.metadata.id}`)).map((e) => e.type);
    // Its tenant number (docs/compat.md) is drawn with it, once.
    assert.deepEqual(types, ['organization.created', 'organization.tenant_number.assigned', 'organization.provisioned']);
    assert.equal(typeof created.metadata.tenantId, 'number');

    const list = (await (await server.api('/api/v1/organizations')).json()) as any[];
    assert.ok(list.some((o) => o.metadata.id === created.metadata.id));
  });

  test('PUT updates and records who and when', async () => {
    const created = (await (await server.api('/api/v1/organizations', { method: 'POST', json: orgBody('globex') })).json()) as any;
    const response = await server.api(`/api/v1/organizations/${created.metadata.id}`, {
      method: 'PUT',
      json: { metadata: { name: 'globex-corp' }, spec: { organizationType: 'domain', domain: 'globex.example.com' } },
    });
    assert.equal(response.status, 200);
    const updated = (await response.json()) as any;
    assert.equal(updated.metadata.name, 'globex-corp');
    assert.equal(updated.metadata.description, undefined);
    assert.equal(updated.spec.domain, 'globex.example.com');
    assert.equal(updated.metadata.modifiedBy, 'platform-administrator');
    assert.equal(updated.metadata.creationTime, created.metadata.creationTime);
    // The old name is free again once renamed.
    assert.equal((await server.api('/api/v1/organizations', { method: 'POST', json: orgBody('globex') })).status, 202);
  });

  test('a duplicate name gets 409, whatever its case, also under concurrency', async () => {
    assert.equal((await server.api('/api/v1/organizations', { method: 'POST', json: orgBody('initech') })).status, 202);
    await expectError(await server.api('/api/v1/organizations', { method: 'POST', json: orgBody('Initech') }), 409, 'conflict', /already taken/);

    const racers = await Promise.all(
      Array.from({ length: 10 }, () => server.api('/api/v1/organizations', { method: 'POST', json: orgBody('hooli') })),
    );
    assert.deepEqual(racers.map((r) => r.status).sort(), [202, ...Array(9).fill(409)]);
    const list = (await (await server.api('/api/v1/organizations')).json()) as any[];
    assert.equal(list.filter((o) => o.metadata.name === 'hooli').length, 1);
  });

  test('DELETE answers 202; the organization shows deprovisioning, then disappears, and its name is free', async () => {
    const created = (await (await server.api('/api/v1/organizations', { method: 'POST', json: orgBody('umbrella') })).json()) as any;
    const id = created.metadata.id;
    const response = await server.api(`/api/v1/organizations/${id}`, { method: 'DELETE' });
    assert.equal(response.status, 202);
    // A repeated DELETE is harmless: 202 while the deletion runs, 404 once it is done.
    assert.ok([202, 404].includes((await server.api(`/api/v1/organizations/${id}`, { method: 'DELETE' })).status));

    await eventually(async () => (await server.api(`/api/v1/organizations/${id}`)).status === 404);
    await expectError(await server.api(`/api/v1/organizations/${id}`), 404, 'not_found');
    const list = (await (await server.api('/api/v1/organizations')).json()) as any[];
    assert.ok(!list.some((o) => o.metadata.id === id));
    await expectError(await server.api(`/api/v1/organizations/${id}`, { method: 'DELETE' }), 404, 'not_found');
    await expectError(await server.api(`/api/v1/organizations/${id}`, { method: 'PUT', json: orgBody('umbrella') }), 404, 'not_found');
    assert.equal((await server.api('/api/v1/organizations', { method: 'POST', json: orgBody('umbrella') })).status, 202);
  });

  test('the deletion is recorded as events with actor, correlation and causation', async () => {
    const created = (await (await server.api('/api/v1/organizations', { method: 'POST', json: orgBody('wonka') })).json()) as any;
    const id = created.metadata.id;
    const projections = server.service.projections;
    const response = await server.api(`/api/v1/organizations/${id}`, { method: 'DELETE' });
    assert.equal(response.status, 202);
    // organization.provisioned may land before the request, or not at all when the request came first.
    const stream = async () =>
      (await server.service.stores.events.readStream(`organization-${id}`)).filter((e) => e.type !== 'organization.provisioned' && e.type !== 'organization.tenant_number.assigned');
    const events = await stream();
    assert.deepEqual(events.map((e) => e.type), ['organization.created', 'organization.deletion_requested']);
    const requested = events[1]!;
    assert.equal(requested.metadata.actor.subject, 'platform-administrator');
    assert.equal(requested.metadata.correlationId, response.headers.get('x-request-id'));
    await eventually(async () => (await stream()).length === 3);
    const deleted = (await stream())[2]!;
    assert.equal(deleted.type, 'organization.deleted');
    assert.equal(deleted.metadata.causationId, requested.metadata.eventId);
    assert.equal(deleted.metadata.correlationId, requested.metadata.correlationId);
    assert.ok(projections.status().ready);
  });

  test('a missing or wrong bearer token gets 401', async () => {
    await expectError(await server.api('/api/v1/organizations', { token: null }), 401, 'access_denied');
    await expectError(await server.api('/api/v1/organizations', { token: 'not-the-token' }), 401, 'access_denied');
    await expectError(await server.api('/api/v1/organizations', { headers: { authorization: `Basic ${ADMIN_TOKEN}` } }), 401, 'access_denied');
  });

  test('bad input gets a 4xx with the error body, and writes nothing', async () => {
    const before = (await (await server.api('/api/v1/organizations')).json()) as any[];
    const post = (init: RequestInit & { json?: unknown }) => server.api('/api/v1/organizations', { method: 'POST', ...init });
    await expectError(await post({ body: '{"metadata": ', headers: { 'content-type': 'application/json' } }), 400, 'invalid_request', /not valid JSON/);
    await expectError(await post({ body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    await expectError(await post({ body: JSON.stringify(orgBody('x')), headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    const huge = JSON.stringify(orgBody('big', { padding: 'x'.repeat(1024 * 1024) }));
    await expectError(await post({ body: huge, headers: { 'content-type': 'application/json' } }), 413, 'invalid_request', /1 MiB/);
    await expectError(await post({ json: orgBody('ok', { extra: true }) }), 400, 'invalid_request', /extra/);
    await expectError(await post({ json: { ...orgBody('ok'), metadata: { name: 'ok', colour: 'red' } } }), 400, 'invalid_request', /colour/);
    await expectError(await post({ json: orgBody('Not A Label!') }), 400, 'invalid_request', /metadata\.name/);
    await expectError(await post({ json: orgBody('-leading-dash') }), 400, 'invalid_request', /metadata\.name/);
    await expectError(await post({ json: orgBody('a'.repeat(64)) }), 400, 'invalid_request', /metadata\.name/);
    await expectError(await post({ json: { metadata: { name: 'ok' }, spec: { organizationType: 'kingdom' } } }), 400, 'invalid_request', /organizationType/);
    await expectError(await post({ json: { metadata: { name: 'ok' }, spec: { organizationType: 'domain' } } }), 400, 'invalid_request', /domain/);
    await expectError(await post({ json: [] }), 400, 'invalid_request');
    await expectError(await post({ json: null }), 400, 'invalid_request');
    await expectError(await post({}), 400, 'invalid_request');
    await expectError(await server.api('/api/v1/organizations/does-not-exist'), 404, 'not_found');
    await expectError(await server.api(`/api/v1/organizations/${'x'.repeat(200)}`), 400, 'invalid_request');
    const after = (await (await server.api('/api/v1/organizations')).json()) as any[];
    assert.equal(after.length, before.length);
  });

  test('unknown routes answer 404 in the same JSON', async () => {
    await expectError(await server.api('/nope'), 404, 'not_found');
    await expectError(await server.api('/api/v1/nope'), 404, 'not_found');
    await expectError(await server.api('/api/v1/organizations', { method: 'PATCH', json: {} }), 404, 'not_found');
  });

  test('health, readiness and the OpenAPI document are public', async () => {
    assert.deepEqual(await (await fetch(`${server.baseUrl}/healthz`)).json(), { status: 'ok' });
    const ready = await fetch(`${server.baseUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as any).status, 'ready');
    const openapi = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as any;
    assert.ok(openapi.paths['/api/v1/organizations'].post);
    assert.ok(openapi.components.schemas.organizationRead);
  });

  test('every request gets a request id, and logs never show the token', async () => {
    const response = await server.api('/api/v1/organizations', { headers: { 'x-request-id': 'trace-123' } });
    assert.equal(response.headers.get('x-request-id'), 'trace-123');
    const line = server.logs.find((l) => l.includes('trace-123'));
    assert.ok(line, 'the request was logged with its id');
    assert.ok(!server.logs.some((l) => l.includes(ADMIN_TOKEN)), 'the bearer token never appears in the log');
  });
});

describe('organizations survive a restart', () => {
  test('state is rebuilt from the log on the next start', async () => {
    const first = await startTestServer();
    const created = (await (await first.api('/api/v1/organizations', { method: 'POST', json: orgBody('persistent') })).json()) as any;
    await first.api(`/api/v1/organizations/${created.metadata.id}`, { method: 'PUT', json: orgBody('persistent', { metadata: { name: 'persistent', description: 'changed' } }) });
    await first.stop();

    const second = await startTestServer({ dataDir: first.dataDir });
    try {
      const read = (await (await second.api(`/api/v1/organizations/${created.metadata.id}`)).json()) as any;
      assert.equal(read.metadata.description, 'changed');
      await expectError(await second.api('/api/v1/organizations', { method: 'POST', json: orgBody('persistent') }), 409, 'conflict');
    } finally {
      await second.close();
    }
  });
});
