import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorizationUrl, createTenant, pkcePair, submitLogin, type Tenant } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { serviceAccountWithRoles } from '../support/tenants.js';

/** The /auth/v1/users API of seed 001 (docs/compat.md). */
describe('compatible /auth/v1/users (seed 001)', () => {
  let server: TestServer;
  let tenant: Tenant;
  let other: Tenant;
  let admin: { token: string };
  let otherAdmin: { token: string };

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
    other = await createTenant(server);
    admin = await serviceAccountWithRoles(server, tenant.organizationId, ['admin']);
    otherAdmin = await serviceAccountWithRoles(server, other.organizationId, ['admin']);
  });
  after(async () => server.close());

  const as = (token: string) => (path: string, init: { method?: string; json?: unknown } = {}) => server.api(path, { ...init, token });
  const call = (path: string, init: { method?: string; json?: unknown } = {}) => as(admin.token)(path, init);
  const json = async (response: Response, status = 200) => {
    const text = await response.text();
    assert.equal(response.status, status, text);
    return text === '' ? undefined : (JSON.parse(text) as any);
  };
  const login = (email: string, password: string) => {
    const url = authorizationUrl(server, { response_type: 'code', client_id: tenant.confidential.clientId, redirect_uri: tenant.redirectUri, scope: 'openid', state: 's', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
    return submitLogin(url, email, password);
  };

  test('create, get, list with filterBy, sortBy, limit and page; the same user through /api/v1/users', async () => {
    const response = await call('/auth/v1/users', {
      method: 'POST',
      json: { kind: 'User', metadata: { name: 'jane@example.com' }, spec: { username: 'jane', email: 'jane@example.com', password: 'a password for jane', is_admin: false, is_disabled: false } },
    });
    const created = await json(response, 201);
    assert.equal(created.kind, 'User');
    assert.equal(created.metadata.name, 'jane@example.com');
    assert.deepEqual(created.spec, { username: 'jane', email: 'jane@example.com', is_admin: false, is_disabled: false });
    assert.ok(!JSON.stringify(created).includes('a password for jane'), 'never echoed');
    assert.equal((await login('jane@example.com', 'a password for jane')).response.status, 302, 'the password works');

    const read = await json(await call('/auth/v1/users/Jane@Example.com'));
    const { last_login_time: lastLogin, ...readSpec } = read.spec;
    assert.ok(!Number.isNaN(Date.parse(lastLogin)), 'the sign-in above is its last login');
    assert.deepEqual({ ...read, spec: readSpec }, created, 'by login name, any case');
    const compat = await json(await call(`/api/v1/users/${created.metadata.uid}`));
    assert.equal(compat.username, 'jane@example.com');
    const seed004 = await json(await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${created.metadata.uid}`));
    assert.equal(seed004.metadata.name, 'jane');

    await json(await call('/auth/v1/users', { method: 'POST', json: { metadata: { name: 'bob@example.com' }, spec: { username: 'bob' } } }), 201);
    const list = await json(await call('/auth/v1/users?filterBy=username,jane&limit=20&page=1'));
    assert.equal(list.kind, 'UserList');
    assert.equal(list.total, 1);
    assert.deepEqual(list.items, [{ metadata: read.metadata, spec: read.spec }]);
    const all = await json(await call('/auth/v1/users?sortBy=-name&limit=2&page=1'));
    assert.equal(all.total, 3, 'jane, bob and the tenant user');
    const descending = [tenant.email, 'jane@example.com', 'bob@example.com'].sort().reverse();
    assert.deepEqual(all.items.map((u: any) => u.metadata.name), descending.slice(0, 2));
    const page2 = await json(await call('/auth/v1/users?sortBy=-name&limit=2&page=2'));
    assert.equal(page2.total, 3);
    assert.deepEqual(page2.items.map((u: any) => u.metadata.name), descending.slice(2));
    assert.equal((await json(await call('/auth/v1/users?filterBy=email,BOB@'))).total, 1);
    assert.equal((await json(await call('/auth/v1/users?filterBy=username,jane,email,bob'))).total, 0, 'all pairs must hold');
  });

  test('patch: display name, password with old_password, is_admin as a real grant, is_disabled; delete', async () => {
    const created = await json(await call('/auth/v1/users', { method: 'POST', json: { metadata: { name: 'pat@example.com' }, spec: { password: 'first password here' } } }), 201);
    assert.equal(created.spec.username, 'pat', 'the display name defaults from the login name');
    const patch = (spec: unknown) => call('/auth/v1/users/pat@example.com', { method: 'PATCH', json: { spec } });

    assert.equal((await json(await patch({ username: 'Patricia' }))).spec.username, 'Patricia');
    const wrong = await patch({ password: 'second password here', old_password: 'not the password' });
    assert.equal(wrong.status, 400, await wrong.clone().text());
    assert.equal((await login('pat@example.com', 'first password here')).response.status, 302, 'unchanged');
    await json(await patch({ password: 'second password here', old_password: 'first password here' }));
    assert.equal((await login('pat@example.com', 'second password here')).response.status, 302);
    assert.notEqual((await login('pat@example.com', 'first password here')).response.status, 302);
    // An administrator sets one without the old.
    await json(await patch({ password: 'third password here' }));
    assert.equal((await login('pat@example.com', 'third password here')).response.status, 302);

    const admin1 = await json(await patch({ is_admin: true }));
    assert.equal(admin1.spec.is_admin, true);
    assert.deepEqual((await json(await call(`/api/v1/users/${created.metadata.uid}`))).roles, ['admin']);
    assert.equal((await json(await patch({ is_admin: false }))).spec.is_admin, false);
    assert.deepEqual((await json(await call(`/api/v1/users/${created.metadata.uid}`))).roles, []);

    assert.equal((await json(await patch({ is_disabled: true }))).spec.is_disabled, true);
    assert.equal((await json(await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${created.metadata.uid}`))).spec.state, 'suspended');
    assert.notEqual((await login('pat@example.com', 'third password here')).response.status, 302, 'a disabled user does not sign in');
    assert.equal((await json(await patch({ is_disabled: false }))).spec.is_disabled, false);

    // What was read, sent back, changes nothing.
    const read = await json(await call('/auth/v1/users/pat@example.com'));
    assert.deepEqual(await json(await call('/auth/v1/users/pat@example.com', { method: 'PATCH', json: read })), read);

    assert.equal((await call('/auth/v1/users/pat@example.com', { method: 'DELETE' })).status, 204);
    assert.equal((await call('/auth/v1/users/pat@example.com')).status, 404);
    assert.equal((await call(`/api/v1/users/${created.metadata.uid}`)).status, 404);
  });

  test('guessing the old password slows down like guessing at sign-in (429 with Retry-After), and the password stays', async () => {
    await json(await call('/auth/v1/users', { method: 'POST', json: { metadata: { name: 'guess@example.com' }, spec: { password: 'the real password' } } }), 201);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 12 && !statuses.includes(429); i++) {
      const response = await call('/auth/v1/users/guess@example.com', { method: 'PATCH', json: { spec: { password: 'a new password here', old_password: `guess number ${i}` } } });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
    }
    assert.ok(statuses.includes(429), `no delay after ${statuses.length} wrong old passwords: ${statuses.join(',')}`);
    assert.ok(statuses.slice(0, -1).every((status) => status === 400), statuses.join(','));
    assert.match(retryAfter ?? '', /^\d+$/);
    assert.equal((await login('guess@example.com', 'the real password')).response.status, 302, 'unchanged');
  });

  test('bad input is a 4xx naming the problem; unmodelled fields are rejected by name', async () => {
    await json(await call('/auth/v1/users', { method: 'POST', json: { metadata: { name: 'dup@example.com' } } }), 201);
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', '/auth/v1/users', { metadata: { name: 'DUP@example.com' } }, 409, /dup@example.com/i],
      ['POST', '/auth/v1/users', { spec: { username: 'nobody' } }, 400, /metadata.name/],
      ['POST', '/auth/v1/users', { metadata: { name: 'jo@example.org' }, spec: { email: 'jo@example.com' } }, 400, /metadata.name/],
      ['POST', '/auth/v1/users', { metadata: { name: 'm1@example.com' }, spec: { mobile: '+100' } }, 400, /mobile/],
      ['POST', '/auth/v1/users', { metadata: { name: 'm2@example.com' }, spec: { connector_type: 'ldap' } }, 400, /connector_type/],
      ['POST', '/auth/v1/users', { metadata: { name: 'm3@example.com' }, spec: { webhookUrl: 'https://x' } }, 400, /webhookUrl/],
      ['POST', '/auth/v1/users', { metadata: { name: 'm4@example.com' }, spec: { password: 'short' } }, 400, /12 characters/],
      ['POST', '/auth/v1/users', { metadata: { name: 'm5@example.com' }, spec: { username: 'not a name!' } }, 400, /username/],
      ['POST', '/auth/v1/users', { metadata: { name: 'm6@example.com' }, surprise: 1 }, 400, /surprise/],
      ['POST', '/auth/v1/users', { metadata: { name: 'm7@example.com' }, spec: { old_password: 'x'.repeat(12) } }, 400, /old_password/],
      ['PATCH', '/auth/v1/users/dup@example.com', { spec: { email: 'other@example.com' } }, 400, /login name/],
      ['PATCH', '/auth/v1/users/dup@example.com', { spec: { is_admin: 'yes' } }, 400, /is_admin/],
      ['PATCH', '/auth/v1/users/nobody@example.com', { spec: { username: 'x' } }, 404, /nobody/],
      ['DELETE', '/auth/v1/users/nobody@example.com', undefined, 404, /nobody/],
      ['GET', '/auth/v1/users?filterBy=username', undefined, 400, /pairs/],
      ['GET', '/auth/v1/users?filterBy=phone,1', undefined, 400, /phone/],
      ['GET', '/auth/v1/users?sortBy=phone', undefined, 400, /sortBy/],
      ['GET', '/auth/v1/users?limit=0', undefined, 400, /limit/],
      ['GET', '/auth/v1/users?page=x', undefined, 400, /page/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const response = await call(path, { method, ...(body !== undefined && { json: body }) });
      const text = await response.text();
      assert.equal(response.status, status, `${method} ${path} ${JSON.stringify(body)}: ${text}`);
      assert.match(text, message, `${method} ${path} ${JSON.stringify(body)}`);
    }
  });

  test("another tenant's users are 404 and never listed; a viewer may read but not write; is_admin needs the right to grant admin", async () => {
    const theirs = as(otherAdmin.token);
    for (const [method, body] of [['GET'], ['PATCH', { spec: { username: 'stolen' } }], ['DELETE']] as Array<[string, unknown?]>) {
      const response = await theirs(`/auth/v1/users/${tenant.email}`, { method, ...(body !== undefined && { json: body }) });
      assert.equal(response.status, 404, method);
    }
    const list = await json(await theirs('/auth/v1/users'));
    assert.ok(!JSON.stringify(list).includes(tenant.email));
    assert.equal((await json(await call(`/auth/v1/users/${tenant.email}`))).metadata.name, tenant.email, 'untouched');

    const viewer = await serviceAccountWithRoles(server, tenant.organizationId, ['viewer']);
    assert.equal((await as(viewer.token)('/auth/v1/users')).status, 200);
    assert.equal((await as(viewer.token)('/auth/v1/users', { method: 'POST', json: { metadata: { name: 'v@example.com' } } })).status, 403);
    const manager = await serviceAccountWithRoles(server, tenant.organizationId, ['department_admin']);
    const escalate = await as(manager.token)('/auth/v1/users', { method: 'POST', json: { metadata: { name: 'esc@example.com' }, spec: { is_admin: true } } });
    assert.equal(escalate.status, 403, await escalate.clone().text());
    assert.equal((await call('/auth/v1/users/esc@example.com')).status, 404);
  });
});
