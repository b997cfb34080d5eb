import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTenant, tokenRequest, type Tenant } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { serviceAccountWithRoles } from '../support/tenants.js';

/** The applications API of seed 003 (/api/v1/apps) and the deprecated /v1/k8s/apps (docs/compat.md). */
describe('compatible applications (seed 003)', () => {
  let server: TestServer;
  let tenant: Tenant;
  let other: Tenant;
  let admin: { token: string };
  let otherAdmin: { token: string };
  let tenantId: number;

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
    other = await createTenant(server);
    admin = await serviceAccountWithRoles(server, tenant.organizationId, ['admin']);
    otherAdmin = await serviceAccountWithRoles(server, other.organizationId, ['admin']);
    tenantId = ((await (await server.api(`/api/v1/organizations/${tenant.organizationId}`)).json()) as { metadata: { tenantId: number } }).metadata.tenantId;
  });
  after(async () => server.close());

  const as = (token: string) => (path: string, init: { method?: string; json?: unknown } = {}) => server.api(path, { ...init, token });
  const call = (path: string, init: { method?: string; json?: unknown } = {}) => as(admin.token)(path, init);
  const json = async (response: Response, status = 200) => {
    const text = await response.text();
    assert.equal(response.status, status, text);
    return text === '' ? undefined : (JSON.parse(text) as any);
  };
  const clientCredentials = (clientId: string, secret: string) => tokenRequest(server, { grant_type: 'client_credentials' }, { clientId, secret });

  test('create answers the id and the secret once; the app signs in with client credentials; get, list, disable, regenerate, delete', async () => {
    const response = await call('/api/v1/apps', { method: 'POST', json: { name: 'app123' } });
    assert.match(response.headers.get('cache-control') ?? '', /no-store/);
    const created = await json(response, 201);
    assert.deepEqual(Object.keys(created).sort(), ['id', 'name', 'secret']);
    assert.equal(created.name, 'app123');
    const id = created.id as string;
    assert.equal((await json(await call(`/api/v1/apps/${id}`))).lastLogin, undefined, 'never signed in yet');

    const token = await clientCredentials(id, created.secret);
    assert.equal(token.status, 200, await token.clone().text());
    assert.equal(typeof ((await token.json()) as { access_token: string }).access_token, 'string');

    const read = await json(await call(`/api/v1/apps/${id}`));
    assert.equal(read.id, id);
    assert.equal(read.name, 'app123');
    assert.equal(read.enabled, true);
    assert.equal(read.tenantId, tenantId);
    assert.equal(typeof read.createdBy, 'string');
    assert.ok(!Number.isNaN(Date.parse(read.createdAt)));
    assert.ok(!Number.isNaN(Date.parse(read.updatedAt)));
    // lastLogin: when the app last signed in as itself (its client-credentials session started).
    assert.ok(Date.parse(read.lastLogin) >= Date.parse(read.createdAt), `lastLogin ${read.lastLogin}`);
    assert.ok(!JSON.stringify(read).includes(created.secret), 'the secret is shown once');

    // The same OAuth client through the seed 004 API.
    const seed004 = await json(await server.api(`/api/v1/organizations/${tenant.organizationId}/applications/${id}`));
    assert.equal(seed004.metadata.name, 'app123');
    assert.deepEqual(seed004.spec.grantTypes, ['client_credentials']);
    assert.equal(seed004.spec.public, false);

    const list = (await json(await call('/api/v1/apps'))) as Array<{ id: string; name: string }>;
    assert.ok(list.some((app) => app.id === id && app.name === 'app123'));
    assert.ok(list.some((app) => app.id === tenant.confidential.clientId), 'every application of the organization');
    assert.deepEqual(await json(await call('/api/v1/apps/installer')), []);

    // Disabled: it no longer signs in. Enabled again: it does.
    assert.equal((await json(await call(`/api/v1/apps/${id}`, { method: 'PATCH', json: { enabled: false } }))).enabled, false);
    assert.equal((await clientCredentials(id, created.secret)).status, 401);
    assert.equal((await json(await call(`/api/v1/apps/${id}`, { method: 'PATCH', json: { enabled: true } }))).enabled, true);
    assert.equal((await clientCredentials(id, created.secret)).status, 200);

    // A new secret: the old one stops working.
    const rotated = await call(`/api/v1/apps/${id}/secret`, { method: 'POST' });
    assert.match(rotated.headers.get('cache-control') ?? '', /no-store/);
    const { secret } = await json(rotated);
    assert.notEqual(secret, created.secret);
    assert.equal((await clientCredentials(id, created.secret)).status, 401);
    assert.equal((await clientCredentials(id, secret)).status, 200);

    assert.equal((await call(`/api/v1/apps/${id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await call(`/api/v1/apps/${id}`)).status, 404);
    assert.equal((await server.api(`/api/v1/organizations/${tenant.organizationId}/applications/${id}`)).status, 404);
    assert.equal((await clientCredentials(id, secret)).status, 401);
  });

  test('bad input is a 4xx naming the problem; a duplicate name is a 409', async () => {
    await json(await call('/api/v1/apps', { method: 'POST', json: { name: 'dup-app' } }), 201);
    const dup = await call('/api/v1/apps', { method: 'POST', json: { name: 'dup-app' } });
    assert.equal(dup.status, 409, await dup.clone().text());
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', '/api/v1/apps', {}, 400, /name/],
      ['POST', '/api/v1/apps', { name: 'bad name!' }, 400, /name/],
      ['POST', '/api/v1/apps', { name: 'ok-app', extra: 1 }, 400, /extra/],
      ['PATCH', `/api/v1/apps/${tenant.confidential.clientId}`, {}, 400, /enabled/],
      ['PATCH', `/api/v1/apps/${tenant.confidential.clientId}`, { enabled: 'yes' }, 400, /enabled/],
      ['PATCH', '/api/v1/apps/nope', { enabled: true }, 404, /nope/],
      ['POST', '/api/v1/apps/nope/secret', undefined, 404, /nope/],
      ['DELETE', '/api/v1/apps/nope', undefined, 404, /nope/],
      ['POST', '/v1/k8s/apps', { name: 'k8s-bad', roles: ['superuser'] }, 400, /roles/],
      ['POST', '/v1/k8s/apps', { name: 'k8s-bad', tenantId: tenantId + 1 }, 403, /tenantId/],
      ['POST', '/v1/k8s/apps', { name: 'k8s-bad', permitAllClusters: false }, 400, /cluster/],
      ['POST', '/v1/k8s/apps', { name: 'k8s-bad', entityType: 'robot' }, 400, /entityType/],
      ['POST', '/v1/k8s/apps', { name: 'k8s-bad', mystery: true }, 400, /mystery/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const response = await call(path, { method, ...(body !== undefined && { json: body }) });
      const text = await response.text();
      assert.equal(response.status, status, `${method} ${path} ${JSON.stringify(body)}: ${text}`);
      assert.match(text, message, `${method} ${path} ${JSON.stringify(body)}`);
    }
  });

  test("another tenant's apps are 404; their administrator cannot see mine", async () => {
    const mine = await json(await call('/api/v1/apps', { method: 'POST', json: { name: 'private-app' } }), 201);
    const theirs = as(otherAdmin.token);
    for (const [method, path, body] of [
      ['GET', `/api/v1/apps/${mine.id}`],
      ['PATCH', `/api/v1/apps/${mine.id}`, { enabled: false }],
      ['DELETE', `/api/v1/apps/${mine.id}`],
      ['POST', `/api/v1/apps/${mine.id}/secret`],
      ['GET', `/v1/k8s/apps/${mine.id}`],
      ['PUT', `/v1/k8s/apps/${mine.id}`, { name: 'stolen' }],
      ['DELETE', `/v1/k8s/apps/${mine.id}`],
      ['POST', `/v1/k8s/apps/${mine.id}/secret`],
    ] as Array<[string, string, unknown?]>) {
      const response = await theirs(path, { method, ...(body !== undefined && { json: body }) });
      assert.equal(response.status, 404, `${method} ${path}`);
    }
    const list = (await json(await theirs('/api/v1/apps'))) as Array<{ id: string }>;
    assert.ok(!list.some((app) => app.id === mine.id));
    assert.equal((await json(await call(`/api/v1/apps/${mine.id}`))).enabled, true, 'untouched');
  });

  test('deprecated /v1/k8s/apps: headers, roles as real grants, revoked, secret regeneration', async () => {
    const response = await call('/v1/k8s/apps', { method: 'POST', json: { name: 'k8s-app', roles: ['viewer'], entityType: 'app', tenantId, permitAllClusters: true, permittedClusters: [] } });
    assert.match(response.headers.get('deprecation') ?? '', /^@\d+$/);
    assert.equal(response.headers.get('link'), '</api/v1/apps>; rel="successor-version"');
    const created = await json(response);
    assert.equal(created.entityType, 'app');
    assert.equal(created.tenantId, tenantId);
    assert.deepEqual(created.roles, ['viewer']);
    assert.equal(created.revoked, false);
    assert.equal(typeof created.secret, 'string');
    const clientId = created.clientId as string;

    // Its role is a real grant: with client credentials it reads the users, and may not create one.
    const token = ((await (await clientCredentials(clientId, created.secret)).json()) as { access_token: string }).access_token;
    assert.equal((await as(token)('/api/v1/users')).status, 200);
    assert.equal((await as(token)('/api/v1/users', { method: 'POST', json: { email: 'by-app@example.com' } })).status, 403);

    const read = await json(await call(`/v1/k8s/apps/${clientId}`));
    const { secret: _secret, ...withoutSecret } = created;
    assert.deepEqual(read, withoutSecret);
    assert.deepEqual(((await json(await call('/v1/k8s/apps?roles=viewer'))) as Array<{ clientId: string }>).map((a) => a.clientId), [clientId]);
    assert.ok(((await json(await call('/v1/k8s/apps?onlyCreatedByMe=true'))) as Array<{ clientId: string }>).some((a) => a.clientId === clientId));
    assert.equal((await json(await call('/api/v1/apps/' + clientId))).name, 'k8s-app', 'the same app through /api/v1/apps');

    // What it read, sent back with a new name, new roles and revoked.
    const updated = await json(await call(`/v1/k8s/apps/${clientId}`, { method: 'PUT', json: { ...read, name: 'k8s-app-2', roles: ['editor'], revoked: true } }));
    assert.equal(updated.name, 'k8s-app-2');
    assert.deepEqual(updated.roles, ['editor']);
    assert.equal(updated.revoked, true);
    assert.equal((await clientCredentials(clientId, created.secret)).status, 401);
    await json(await call(`/v1/k8s/apps/${clientId}`, { method: 'PUT', json: { name: 'k8s-app-2', revoked: false } }));

    const rotated = await json(await call(`/v1/k8s/apps/${clientId}/secret`, { method: 'POST' }));
    assert.equal(rotated.clientId, clientId);
    assert.equal((await clientCredentials(clientId, created.secret)).status, 401);
    assert.equal((await clientCredentials(clientId, rotated.secret)).status, 200);

    assert.equal((await call(`/v1/k8s/apps/${clientId}`, { method: 'DELETE' })).status, 200);
    assert.equal((await call(`/v1/k8s/apps/${clientId}`)).status, 404);

    const openapi = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as { paths: Record<string, Record<string, { deprecated?: boolean }>> };
    for (const path of ['/v1/k8s/apps', '/v1/k8s/apps/{clientId}', '/v1/k8s/apps/{clientId}/secret']) {
      for (const operation of Object.values(openapi.paths[path]!)) assert.equal(operation.deprecated, true, path);
    }
    assert.equal(openapi.paths['/api/v1/apps']!.get!.deprecated, undefined);
  });

  test('a viewer may list apps but not create one', async () => {
    const viewer = await serviceAccountWithRoles(server, tenant.organizationId, ['viewer']);
    assert.equal((await as(viewer.token)('/api/v1/apps')).status, 200);
    assert.equal((await as(viewer.token)('/api/v1/apps', { method: 'POST', json: { name: 'nope-app' } })).status, 403);
  });
});
