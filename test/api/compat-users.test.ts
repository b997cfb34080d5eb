import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorizationUrl, createTenant, hiddenField, pkcePair, refreshRequest, signIn, submitLogin, type Tenant } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { serviceAccountWithRoles } from '../support/tenants.js';

/** The users API of seed 000 (/api/v1/users), in the caller's organization (docs/compat.md). */
describe('compatible users API (seed 000)', () => {
  let server: TestServer;
  let tenant: Tenant;
  let admin: string;
  let tenantId: number;

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
    admin = (await serviceAccountWithRoles(server, tenant.organizationId, ['admin'])).token;
    const org = (await (await server.api(`/api/v1/organizations/${tenant.organizationId}`)).json()) as { metadata: { tenantId: number } };
    tenantId = org.metadata.tenantId;
    assert.equal(typeof tenantId, 'number');
  });
  after(async () => server.close());

  const as = (token: string) => (path: string, init: { method?: string; json?: unknown; headers?: Record<string, string> } = {}) => server.api(path, { ...init, token });
  const create = async (email: string, token = admin) => {
    const response = await as(token)('/api/v1/users', { method: 'POST', json: { email } });
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as { id: string; username: string; tempPassword: string };
  };
  const list = async (query: string, token = admin) => {
    const response = await as(token)(`/api/v1/users?${query}`);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as Array<Record<string, unknown>>;
  };
  const login = (email: string, password: string) =>
    submitLogin(
      authorizationUrl(server, {
        response_type: 'code',
        client_id: tenant.confidential.clientId,
        redirect_uri: tenant.redirectUri,
        scope: 'openid offline_access',
        state: 's',
        code_challenge: pkcePair().challenge,
        code_challenge_method: 'S256',
      }),
      email,
      password,
    );

  test('POST /api/v1/users creates a local user with a temporary password, answered once; it is the same user the seed 004 API shows', async () => {
    const response = await as(admin)('/api/v1/users', { method: 'POST', json: { email: 'Jane.Doe@example.com' } });
    assert.equal(response.status, 201, await response.clone().text());
    assert.match(response.headers.get('cache-control') ?? '', /no-store/);
    const body = (await response.json()) as { id: string; username: string; tempPassword: string };
    assert.deepEqual(Object.keys(body).sort(), ['id', 'tempPassword', 'username']);
    assert.equal(body.username, 'Jane.Doe@example.com');
    assert.ok(body.tempPassword.length >= 16);

    const user = (await (await as(admin)(`/api/v1/users/${body.id}`)).json()) as Record<string, unknown>;
    assert.equal(user.id, body.id);
    assert.equal(user.username, 'Jane.Doe@example.com');
    assert.equal(user.entityType, 'regular-user');
    assert.equal(user.tenantId, tenantId);
    assert.equal(user.isLocal, true);
    assert.equal(user.needToChangePassword, true);
    assert.deepEqual(user.groups, []);
    assert.deepEqual(user.roles, []);
    assert.equal(typeof user.creationTime, 'string');
    assert.equal(user.lastUpdated, user.creationTime);
    assert.ok(String(user.createdBy).length > 0);
    assert.ok(!JSON.stringify(user).includes(body.tempPassword), 'the temporary password is never read back');

    const same = await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${body.id}`);
    assert.equal(same.status, 200);
    assert.equal(((await same.json()) as { spec: { subject: string } }).spec.subject, 'Jane.Doe@example.com');
    // Nor is it in any event.
    const log = JSON.stringify(await server.service.stores.events.readAll({ maxCount: 100_000 }), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    assert.ok(!log.includes(body.tempPassword));
  });

  test('bad input is a 400 naming the problem; an email that exists is a 409', async () => {
    await create('taken@example.com');
    const again = await as(admin)('/api/v1/users', { method: 'POST', json: { email: 'TAKEN@example.com' } });
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { error: string }).error, 'conflict');
    for (const json of [{}, { email: 'not-an-email' }, { email: 'a@b' }, { email: 'x@example.com', extra: 1 }, { email: 42 }, { email: 'x@example.com', notify: true }]) {
      const response = await as(admin)('/api/v1/users', { method: 'POST', json });
      assert.equal(response.status, 400, JSON.stringify(json));
      const error = (await response.json()) as { error: string; error_description: string };
      assert.equal(error.error, 'invalid_request');
      assert.ok(error.error_description.length > 0);
    }
    assert.equal((await as(admin)('/api/v1/users?limit=0')).status, 400);
    assert.equal((await as(admin)('/api/v1/users?limit=501')).status, 400);
    assert.equal((await as(admin)('/api/v1/users?sortBy=password')).status, 400);
    assert.equal((await as(admin)('/api/v1/users?unknown=1')).status, 400);
    assert.equal((await as(admin)('/api/v1/users/no-such-user')).status, 404);
    assert.equal((await as(admin)('/api/v1/users/no-such-user', { method: 'DELETE' })).status, 404);
    assert.equal((await as(admin)('/api/v1/users/no-such-user/password', { method: 'POST' })).status, 404);
    assert.equal((await as(admin)('/api/v1/users/no-such-user/logout', { method: 'POST' })).status, 404);
    assert.equal((await server.api('/api/v1/users', { token: null })).status, 401);
  });

  test('filterBy: comma-separated terms all hold, each operator, dates in ISO 8601; count takes the same filters', async () => {
    const org = await createTenant(server);
    const token = (await serviceAccountWithRoles(server, org.organizationId, ['admin'])).token;
    for (const email of ['test.one@example.com', 'test.two@example.com', 'other@example.org']) await create(email, token);
    const names = async (query: string) => (await list(query, token)).map((u) => u.username).sort();
    const count = async (query: string) => {
      const response = await as(token)(`/api/v1/users/count?${query}`);
      assert.equal(response.status, 200, await response.clone().text());
      return ((await response.json()) as { count: number }).count;
    };
    const q = (...terms: string[]) => terms.map((t) => `filterBy=${encodeURIComponent(t)}`).join('&');

    assert.deepEqual(await names(q('username=@test')), ['test.one@example.com', 'test.two@example.com']);
    assert.deepEqual(await names(q('username=@TEST,username!=test.two@example.com')), ['test.one@example.com']);
    assert.deepEqual(await names(q('username=@test', 'username!=test.two@example.com')), ['test.one@example.com'], 'repeated filterBy: AND');
    assert.deepEqual(await names(q('username==other@example.org')), ['other@example.org']);
    assert.deepEqual(await names(q('username<=other@example.org')), [org.email, 'other@example.org'].sort());
    assert.deepEqual(await names(q('username>=test.two@example.com')), ['test.two@example.com']);
    // The seed's example: nobody has logged in since the future, and all are local.
    assert.deepEqual(await names(q('username=@test,lastLogin>=2024-09-24T00:00:00.00Z,isLocal==false')), []);
    assert.deepEqual(await names(q('username=@test,isLocal==true')), ['test.one@example.com', 'test.two@example.com']);
    assert.deepEqual(await names(q('creationTime>=2000-01-01T00:00:00Z,creationTime<=2999-01-01')), [org.email, 'other@example.org', 'test.one@example.com', 'test.two@example.com'].sort());
    assert.deepEqual(await names(q('creationTime<=2000-01-01T00:00:00.00Z')), []);
    assert.deepEqual(await names(q('lastUpdated>=2000-01-01T00:00:00Z,username=@other')), ['other@example.org']);
    assert.deepEqual(await names(q('needToChangePassword==false')), [org.email]);
    assert.deepEqual(await names(q('type==regular-user,username=@two')), ['test.two@example.com']);
    assert.deepEqual(await names('filter=runai.is_local:true&search=ONE'), ['test.one@example.com']);
    assert.equal(await count(q('username=@test')), 2);
    assert.equal(await count(''), 4);
    assert.equal(await count('search=example.org'), 1);

    for (const [query, named] of [
      [q('username~test'), 'username~test'],
      [q('username=@test,bogus'), 'bogus'],
      [q('username=@test,isLocal=false'), 'isLocal=false'],
      [q('username=@test,'), '""'],
      [q('password==x'), 'password'],
      [q('lastLogin>=yesterday'), 'yesterday'],
      [q('isLocal<=true'), 'isLocal'],
      [q('isLocal==maybe'), 'maybe'],
      [q('creationTime=@2024'), '=@'],
      [q(''), 'filterBy'],
      ['filter=runai.unknown:true', 'runai.unknown'],
    ] as const) {
      for (const path of ['/api/v1/users', '/api/v1/users/count']) {
        const response = await as(token)(`${path}?${query}`);
        assert.equal(response.status, 400, `${path}?${query}`);
        assert.ok(((await response.json()) as { error_description: string }).error_description.includes(named), `${query} names ${named}`);
      }
    }
  });

  test('sortBy, sortOrder, offset and limit page the list; X-Total-Count counts all matches', async () => {
    const org = await createTenant(server);
    const token = (await serviceAccountWithRoles(server, org.organizationId, ['admin'])).token;
    for (const email of ['b@example.com', 'c@example.com', 'a@example.com']) await create(email, token);
    const response = await as(token)('/api/v1/users?sortBy=username&sortOrder=desc&offset=1&limit=2');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-total-count'), '4');
    const all = ['a@example.com', org.email, 'b@example.com', 'c@example.com'].sort().reverse();
    assert.deepEqual(((await response.json()) as Array<{ username: string }>).map((u) => u.username), all.slice(1, 3));
    assert.deepEqual((await list('sortBy=username', token)).map((u) => u.username), [...all].reverse());
    const byCreation = (await list('sortBy=creationTime', token)).map((u) => u.username);
    assert.deepEqual(byCreation.slice(1), ['b@example.com', 'c@example.com', 'a@example.com']);
  });

  test('the temporary password signs in once, to choose a new one; regenerate and logout end the sessions', async () => {
    const { id, tempPassword } = await create('first.login@example.com');
    const first = await login('first.login@example.com', tempPassword);
    assert.equal(first.response.status, 200);
    assert.match(first.html!, /name="new_password"/, 'the user must change the password at the first login');
    const chosen = 'my very own password';
    const done = await fetch(`${server.baseUrl}/oauth2/v2/login/password`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ state: hiddenField(first.html!, 'state')!, ticket: hiddenField(first.html!, 'ticket')!, new_password: chosen, confirm_password: chosen }),
    });
    assert.equal(done.status, 302, await done.clone().text());
    const user = (await (await as(admin)(`/api/v1/users/${id}`)).json()) as { needToChangePassword: boolean };
    assert.equal(user.needToChangePassword, false);
    // The temporary one is spent.
    assert.equal((await login('first.login@example.com', tempPassword)).response.status, 200);
    assert.doesNotMatch((await login('first.login@example.com', tempPassword)).html!, /name="new_password"/);

    const tokens = await signIn(server, { ...tenant, email: 'first.login@example.com', password: chosen }, 'openid offline_access');
    assert.ok(tokens.refresh_token);
    const logout = await as(admin)(`/api/v1/users/${id}/logout`, { method: 'POST' });
    assert.equal(logout.status, 204, await logout.clone().text());
    assert.equal((await refreshRequest(server, tenant, tokens.refresh_token!)).status, 400, 'the refresh token no longer works');

    const again = await signIn(server, { ...tenant, email: 'first.login@example.com', password: chosen }, 'openid offline_access');
    const regenerate = await as(admin)(`/api/v1/users/${id}/password`, { method: 'POST' });
    assert.equal(regenerate.status, 200);
    assert.match(regenerate.headers.get('cache-control') ?? '', /no-store/);
    const { tempPassword: second } = (await regenerate.json()) as { tempPassword: string };
    assert.notEqual(second, tempPassword);
    assert.equal((await refreshRequest(server, tenant, again.refresh_token!)).status, 400);
    assert.equal(((await (await as(admin)(`/api/v1/users/${id}`)).json()) as { needToChangePassword: boolean }).needToChangePassword, true);
    assert.match((await login('first.login@example.com', second)).html!, /name="new_password"/);
    assert.equal((await login('first.login@example.com', chosen)).response.status, 200, 'the old password is gone');
  });

  test('DELETE removes the user from both APIs', async () => {
    const { id } = await create('leaving@example.com');
    const response = await as(admin)(`/api/v1/users/${id}`, { method: 'DELETE' });
    assert.equal(response.status, 204);
    assert.equal((await as(admin)(`/api/v1/users/${id}`)).status, 404);
    assert.equal((await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${id}`)).status, 404);
  });

  test('roles: a viewer reads and changes nothing, an ml_engineer does not read users, a department_admin creates them', async () => {
    const viewer = (await serviceAccountWithRoles(server, tenant.organizationId, ['viewer'])).token;
    assert.equal((await as(viewer)('/api/v1/users')).status, 200);
    assert.equal((await as(viewer)('/api/v1/users/count')).status, 200);
    assert.equal((await as(viewer)('/api/v1/users', { method: 'POST', json: { email: 'viewer.made@example.com' } })).status, 403);
    const mlEngineer = (await serviceAccountWithRoles(server, tenant.organizationId, ['ml_engineer'])).token;
    assert.equal((await as(mlEngineer)('/api/v1/users')).status, 403);
    const departmentAdmin = (await serviceAccountWithRoles(server, tenant.organizationId, ['department_admin'])).token;
    assert.equal((await as(departmentAdmin)('/api/v1/users', { method: 'POST', json: { email: 'dept.made@example.com' } })).status, 201);
  });

  test("tenancy: a platform administrator names the organization; nobody reaches another tenant's users", async () => {
    // The platform administrator (the bootstrap token) belongs to no organization.
    const none = await server.api('/api/v1/users');
    assert.equal(none.status, 400);
    assert.match(((await none.json()) as { error_description: string }).error_description, /X-Organization-ID/);
    const byId = await server.api('/api/v1/users', { headers: { 'X-Organization-ID': tenant.organizationId } });
    assert.equal(byId.status, 200);
    const byNumber = await server.api('/api/v1/users', { headers: { 'X-Organization-ID': String(tenantId) } });
    assert.deepEqual(await byNumber.json(), await (await server.api('/api/v1/users', { headers: { 'X-Organization-ID': tenant.organizationId } })).json());
    assert.equal((await server.api('/api/v1/users', { headers: { 'X-Organization-ID': '999999999' } })).status, 404);
    assert.equal((await server.api('/api/v1/users', { headers: { 'X-Organization-ID': 'no-such-organization' } })).status, 404);
    const made = await server.api('/api/v1/users', { method: 'POST', json: { email: 'by.platform@example.com' }, headers: { 'X-Organization-ID': tenant.organizationId, 'Idempotency-Key': 'platform-1' } });
    assert.equal(made.status, 201);
    const first = (await made.json()) as { id: string; tempPassword: string };
    const retried = await server.api('/api/v1/users', { method: 'POST', json: { email: 'by.platform@example.com' }, headers: { 'X-Organization-ID': tenant.organizationId, 'Idempotency-Key': 'platform-1' } });
    assert.deepEqual(await retried.json(), first, 'a retry gets the first answer');


    const other = await createTenant(server);
    // The same key and body for another organization is another request: its own user, never the first answer's password.
    const elsewhere = await server.api('/api/v1/users', { method: 'POST', json: { email: 'by.platform@example.com' }, headers: { 'X-Organization-ID': other.organizationId, 'Idempotency-Key': 'platform-1' } });
    assert.equal(elsewhere.status, 201);
    const second = (await elsewhere.json()) as { id: string; tempPassword: string };
    assert.notEqual(second.id, first.id);
    assert.notEqual(second.tempPassword, first.tempPassword);
    await server.api(`/api/v1/users/${second.id}`, { method: 'DELETE', headers: { 'X-Organization-ID': other.organizationId } });
    const otherAdmin = (await serviceAccountWithRoles(server, other.organizationId, ['admin'])).token;
    const mine = (await list('', otherAdmin)).map((u) => u.id);
    assert.deepEqual(mine, [other.userId]);
    // Their user's id is not found here; naming their organization is forbidden.
    for (const [method, path] of [
      ['GET', `/api/v1/users/${tenant.userId}`],
      ['DELETE', `/api/v1/users/${tenant.userId}`],
      ['POST', `/api/v1/users/${tenant.userId}/password`],
      ['POST', `/api/v1/users/${tenant.userId}/logout`],
    ] as const) {
      assert.equal((await as(otherAdmin)(path, { method })).status, 404, `${method} ${path}`);
    }
    assert.equal((await as(otherAdmin)('/api/v1/users', { headers: { 'X-Organization-ID': tenant.organizationId } })).status, 403);
    assert.equal((await as(otherAdmin)('/api/v1/users', { headers: { 'X-Organization-ID': String(tenantId) } })).status, 403);
    assert.equal((await as(otherAdmin)('/api/v1/users', { headers: { 'X-Organization-ID': other.organizationId } })).status, 200);
    assert.equal((await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${tenant.userId}`)).status, 200, 'their user is untouched');
  });
});
