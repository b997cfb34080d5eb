import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorizationUrl, createTenant, pkcePair, submitLogin, type Tenant } from '../../support/oidc.js';
import { startTestServer, type TestServer } from '../../support/server.js';
import { serviceAccountWithRoles } from '../../support/tenants.js';

/**
 * Seed 001's own example: a user named "jane" whose email is jane@example.com.
 * The login name and the email share one reservation scope (docs/compat.md).
 */
describe('compatible /auth/v1/users: a login name beside the email (seed 001)', () => {
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

  const call = (path: string, init: { method?: string; json?: unknown; token?: string } = {}) => server.api(path, { ...init, token: init.token ?? admin.token });
  const json = async (response: Response, status = 200) => {
    const text = await response.text();
    assert.equal(response.status, status, text);
    return text === '' ? undefined : (JSON.parse(text) as any);
  };
  const login = (t: Tenant, name: string, password: string) => {
    const url = authorizationUrl(server, { response_type: 'code', client_id: t.confidential.clientId, redirect_uri: t.redirectUri, scope: 'openid', state: 's', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
    return submitLogin(url, name, password);
  };
  const create = (name: string, email: string, extra: Record<string, unknown> = {}, token?: string) =>
    call('/auth/v1/users', { method: 'POST', json: { kind: 'User', metadata: { name }, spec: { username: name, email, ...extra } }, ...(token !== undefined && { token }) });
  const seed004 = (org: string) => `/api/v1/organizations/${org}/users`;

  test("a name taken as another user's login name or email is a 409 naming the field, in any case; nothing half-made", async () => {
    await json(await create('jane', 'jane@example.com', { password: 'jane has a long password' }), 201);
    const before = await json(await call('/auth/v1/users?limit=500'));
    const attacks: Array<[string, string, RegExp]> = [
      ['JANE', 'someone@example.com', /metadata\.name: \\"JANE\\"/],
      ['janet', 'Jane@Example.com', /spec\.email: \\"Jane@Example.com\\"/],
    ];
    for (const [name, email, message] of attacks) {
      const response = await create(name, email);
      const text = await response.text();
      assert.equal(response.status, 409, text);
      assert.match(text, message);
      assert.ok(!text.includes(tenant.organizationId), 'the scope is not in the answer');
    }
    // A login name equal to another user's email, and an email equal to another user's login name (seed 004 API).
    await json(await call('/auth/v1/users', { method: 'POST', json: { metadata: { name: 'jane' } } }), 409);
    const viaSeed004 = await server.api(seed004(tenant.organizationId), { method: 'POST', json: { metadata: { name: 'x' }, spec: { subject: 'JANE', state: 'active', groupIDs: [] } } });
    assert.equal(viaSeed004.status, 409, await viaSeed004.clone().text());
    const after = await json(await call('/auth/v1/users?limit=500'));
    assert.equal(after.total, before.total, 'the refused creates left no user');
    // janet's name was claimed before her email conflicted: released again, so it is free.
    await json(await create('janet', 'janet@example.com'), 201);
    // Another organization has its own names.
    await json(await create('jane', 'jane@example.com', {}, otherAdmin.token), 201);
    // A login name is never an email address.
    const email = await create('a@b.example', 'c@d.example');
    assert.equal(email.status, 400, await email.clone().text());
  });

  test("the seed's example answers as documented: get by name (or email), list, filter by each field; one user everywhere", async () => {
    const read = await json(await call('/auth/v1/users/jane'));
    assert.equal(read.kind, 'User');
    assert.equal(read.metadata.name, 'jane');
    assert.equal(read.spec.username, 'jane');
    assert.equal(read.spec.email, 'jane@example.com');
    assert.equal(read.spec.is_admin, false);
    assert.deepEqual(await json(await call('/auth/v1/users/jane@example.com')), read, 'by email too');
    const list = await json(await call('/auth/v1/users?filterBy=username,jane&limit=20&page=1'));
    assert.deepEqual(list.items.map((u: any) => u.metadata.name).sort(), ['jane', 'janet']);
    const byName = await json(await call('/auth/v1/users?filterBy=name,JANE&limit=20&page=1'));
    assert.deepEqual(byName.items.map((u: any) => u.metadata.name).sort(), ['jane', 'janet']);
    const byEmail = await json(await call('/auth/v1/users?filterBy=email,jane@&limit=20&page=1'));
    assert.deepEqual(byEmail.items.map((u: any) => u.spec.email), ['jane@example.com']);
    // The same user through the other APIs; the seed 004 user shows no login-name internals.
    const compat = await json(await call(`/api/v1/users/${read.metadata.uid}`));
    assert.equal(compat.email, 'jane@example.com');
    const user = await json(await server.api(`${seed004(tenant.organizationId)}/${read.metadata.uid}`));
    assert.equal(user.spec.subject, 'jane@example.com');
    assert.ok(!('loginName' in user) && !('loginNameKey' in user), JSON.stringify(user));
    // Another tenant's admin finds its own jane, never ours.
    const theirs = await json(await call('/auth/v1/users/jane', { token: otherAdmin.token }));
    assert.notEqual(theirs.metadata.uid, read.metadata.uid);
  });

  test('sign-in by login name and by email, in the organization that holds them; a seed 004 PUT keeps the login name', async () => {
    assert.equal((await login(tenant, 'jane', 'jane has a long password')).response.status, 302, 'by name');
    assert.equal((await login(tenant, 'JANE@example.com', 'jane has a long password')).response.status, 302, 'by email');
    assert.notEqual((await login(tenant, 'jane', 'not the password at all')).response.status, 302);
    assert.notEqual((await login(other, 'jane', 'jane has a long password')).response.status, 302, "the other organization's jane has no password");
    const uid = (await json(await call('/auth/v1/users/jane'))).metadata.uid;
    const path = `${seed004(tenant.organizationId)}/${uid}`;
    const user = await json(await server.api(path));
    await json(await server.api(path, { method: 'PUT', json: { ...user, metadata: { ...user.metadata, description: 'kept' } } }));
    assert.equal((await json(await call('/auth/v1/users/jane'))).metadata.uid, uid, 'still jane');
  });

  test('a new email releases the old one; delete releases both; erasure seals the login name', async () => {
    const renamed = await json(await call('/auth/v1/users/jane', { method: 'PATCH', json: { spec: { email: 'jane.doe@example.com' } } }));
    assert.equal(renamed.metadata.name, 'jane');
    assert.equal(renamed.spec.email, 'jane.doe@example.com');
    assert.equal((await login(tenant, 'jane.doe@example.com', 'jane has a long password')).response.status, 302);
    assert.notEqual((await login(tenant, 'jane@example.com', 'jane has a long password')).response.status, 302, 'the old email signs in no more');
    // The old email is free; the login name is not.
    const taken = await create('jane', 'new.jane@example.com');
    assert.equal(taken.status, 409);
    const freed = await json(await call('/auth/v1/users', { method: 'POST', json: { metadata: { name: 'jane@example.com' } } }), 201);
    // The janet user takes jane's email: refused (409 naming spec.email), the user unchanged.
    const clash = await call('/auth/v1/users/janet', { method: 'PATCH', json: { spec: { email: 'JANE.DOE@example.com' } } });
    assert.equal(clash.status, 409, await clash.clone().text());
    assert.match(await clash.text(), /spec\.email/);
    assert.equal((await json(await call('/auth/v1/users/janet'))).spec.email, 'janet@example.com');
    // A user whose email is its login name cannot change it here.
    assert.equal((await call(`/auth/v1/users/jane@example.com`, { method: 'PATCH', json: { spec: { email: 'x@example.com' } } })).status, 400);
    assert.equal((await call('/auth/v1/users/jane', { method: 'PATCH', json: { metadata: { name: 'joan' } } })).status, 400);

    // Erase jane: both its values are free, and its events read [erased].
    const uid = renamed.metadata.uid;
    await json(await server.api(`${seed004(tenant.organizationId)}/${uid}/erasure`, { method: 'POST' }));
    assert.equal((await call('/auth/v1/users/jane')).status, 404);
    const stream = await server.service.stores.events.readStream(`user-${uid}`);
    const whole = stream.filter((e) => e.type === 'user.created' || e.type === 'user.updated');
    assert.ok(whole.length >= 2);
    for (const event of whole) assert.equal((event.data as any).loginName, '[erased]', event.type);
    await json(await create('jane', 'jane.doe@example.com'), 201);
    await json(await call(`/auth/v1/users/${freed.metadata.name}`, { method: 'DELETE' }), 204);
    await json(await create('jane2', 'jane@example.com'), 201);
  });
});

describe('sign-in throttling counts an account once, whichever of its names is typed', () => {
  let server: TestServer;
  let tenant: Tenant;

  before(async () => {
    server = await startTestServer({ env: { THROTTLE_SOURCE_FREE_FAILURES: '3', THROTTLE_ACCOUNT_FREE_FAILURES: '8', THROTTLE_SOURCE_REQUESTS_PER_MINUTE: '1000' } });
    tenant = await createTenant(server);
  });
  after(async () => server.close());

  test('wrong passwords alternating between the login name and the email spend one allowance', async () => {
    const admin = await serviceAccountWithRoles(server, tenant.organizationId, ['admin']);
    const made = await server.api('/auth/v1/users', {
      method: 'POST',
      token: admin.token,
      json: { kind: 'User', metadata: { name: 'jane' }, spec: { username: 'jane', email: 'jane@example.com', password: 'jane has a long password' } },
    });
    assert.equal(made.status, 201, await made.clone().text());
    const login = (name: string, password: string) => {
      const url = authorizationUrl(server, { response_type: 'code', client_id: tenant.confidential.clientId, redirect_uri: tenant.redirectUri, scope: 'openid', state: 's', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
      return submitLogin(url, name, password);
    };
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await login(i % 2 === 0 ? 'jane' : 'JANE@example.com', `wrong password ${i}`)).response.status);
    // Three free failures from this address, the fourth starts the delay, then 429s: as with one name typed six times.
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    // Another name that is no account's keeps its own allowance (and is slowed exactly as a real one would be).
    assert.equal((await login('nobody-here', 'wrong password')).response.status, 200);
  });
});
