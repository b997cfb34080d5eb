import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  authorizationUrl,
  createTenant,
  hiddenField,
  pkcePair,
  signIn,
  submitLogin,
  type Tenant,
  tokenRequest,
} from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Every event in the log as text (positions are bigints, which JSON does not take). */
const allEvents = async (server: TestServer) =>
  JSON.stringify(await server.service.stores.events.readAll({ maxCount: 100_000 }), (_key, value) => (typeof value === 'bigint' ? String(value) : value));

describe('local credentials: failures, reset, change', () => {
  let server: TestServer;
  let tenant: Tenant;
  /** Every password used in the test, to look for afterwards where none may be. */
  const passwords: string[] = [];

  const login = (user: { email: string }, password: string, clientId = tenant.confidential.clientId) =>
    submitLogin(
      authorizationUrl(server, {
        response_type: 'code',
        client_id: clientId,
        redirect_uri: tenant.redirectUri,
        scope: 'openid',
        state: 's',
        code_challenge: pkcePair().challenge,
        code_challenge_method: 'S256',
      }),
      user.email,
      password,
    );
  const credentialEvents = async (userId: string) =>
    (await server.service.stores.events.readStream(`credentials-${userId}`)).map((event) => ({ type: event.type, data: event.data as Record<string, unknown> }));

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
    passwords.push(tenant.password);
  });
  after(async () => server.close());

  test('failed logins are not events and lock nothing: the right password works after many wrong ones from elsewhere', async () => {
    const user = await createTenant(server);
    passwords.push(user.password);
    const wrong = 'wrong password number';
    for (let i = 0; i < 3; i++) assert.match((await login(user, wrong, user.confidential.clientId)).html!, /not right/);
    const right = await login(user, user.password, user.confidential.clientId);
    assert.equal(right.response.status, 302, 'below the free failures, the right password signs in');
    const events = await credentialEvents(user.userId);
    assert.deepEqual(
      events.map((e) => e.type),
      ['user.password.changed'],
      'the credentials stream does not grow with attempts (the throttling is in memory: test/api/login-throttling.test.ts)',
    );
  });

  test("an administrator's reset answers a temporary password once; the next login asks for a new one, then completes with a code", async () => {
    const user = await createTenant(server);
    passwords.push(user.password);
    const reset = await server.api(`/api/v1/organizations/${user.organizationId}/users/${user.userId}/password`, { method: 'POST' });
    assert.equal(reset.status, 200, await reset.clone().text());
    assert.match(reset.headers.get('cache-control') ?? '', /no-store/);
    const { tempPassword } = (await reset.json()) as { tempPassword: string };
    assert.equal(typeof tempPassword, 'string');
    passwords.push(tempPassword);

    // The old password is gone.
    assert.equal((await login(user, user.password, user.confidential.clientId)).response.status, 200);

    const { verifier, challenge } = pkcePair();
    const { response, html } = await submitLogin(
      authorizationUrl(server, {
        response_type: 'code',
        client_id: user.confidential.clientId,
        redirect_uri: user.redirectUri,
        scope: 'openid',
        state: 'after-reset',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
      user.email,
      tempPassword,
    );
    assert.equal(response.status, 200);
    assert.match(html!, /name="new_password"/);
    const choose = (fields: Record<string, string>, page = html!) =>
      fetch(`${server.baseUrl}/oauth2/v2/login/password`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ state: hiddenField(page, 'state')!, ticket: hiddenField(page, 'ticket')!, ...fields }),
      });
    const mismatch = await choose({ new_password: 'a brand new password', confirm_password: 'another password' });
    assert.equal(mismatch.status, 200);
    assert.match(await mismatch.text(), /role="alert"[^>]*>The two passwords are not the same/);
    const short = await choose({ new_password: 'short', confirm_password: 'short' });
    assert.equal(short.status, 200);
    assert.match(await short.text(), /role="alert"[^>]*>The password must have at least 12 characters/);

    const newPassword = 'a brand new password';
    passwords.push(newPassword);
    const done = await choose({ new_password: newPassword, confirm_password: newPassword });
    assert.equal(done.status, 302, await done.clone().text());
    const location = new URL(done.headers.get('location')!);
    assert.equal(location.searchParams.get('state'), 'after-reset');
    const tokens = await tokenRequest(
      server,
      { grant_type: 'authorization_code', code: location.searchParams.get('code')!, redirect_uri: user.redirectUri, code_verifier: verifier },
      { clientId: user.confidential.clientId, secret: user.confidential.clientSecret },
    );
    assert.equal(tokens.status, 200, await tokens.clone().text());

    // The page cannot be used again to change the password without knowing it.
    const replay = await choose({ new_password: 'a third password here', confirm_password: 'a third password here' });
    assert.equal(replay.status, 400);
    // The new password signs in directly; the temporary one no longer does.
    assert.equal((await login(user, newPassword, user.confidential.clientId)).response.status, 302);
    assert.equal((await login(user, tempPassword, user.confidential.clientId)).response.status, 200);
    assert.equal((await login(user, 'a third password here', user.confidential.clientId)).response.status, 200);
  });

  test("a reset of another organization's user, or of nobody, is 404", async () => {
    const other = await createTenant(server);
    passwords.push(other.password);
    const crossed = await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${other.userId}/password`, { method: 'POST' });
    assert.equal(crossed.status, 404);
    const nobody = await server.api(`/api/v1/organizations/${tenant.organizationId}/users/no-such-user/password`, { method: 'POST' });
    assert.equal(nobody.status, 404);
    // The other user's password still works.
    assert.equal((await login(other, other.password, other.confidential.clientId)).response.status, 302);
  });

  test('a signed-in user changes their own password with POST /api/v1/me/password', async () => {
    const user = await createTenant(server);
    passwords.push(user.password);
    const { access_token } = await signIn(server, user);
    const change = (json: unknown, token = access_token) => server.api('/api/v1/me/password', { method: 'POST', json, token });

    const wrongCurrent = await change({ currentPassword: 'not the current one', newPassword: 'a new password of mine' });
    assert.equal(wrongCurrent.status, 400);
    assert.equal(((await wrongCurrent.json()) as { error: string }).error, 'invalid_request');
    assert.equal((await change({ currentPassword: user.password, newPassword: 'short' })).status, 400);
    assert.equal((await change({ currentPassword: user.password })).status, 400);
    assert.equal((await change({ currentPassword: user.password, newPassword: 'a new password of mine', extra: 1 })).status, 400);
    // Not a user: the platform administrator's bootstrap token has no password.
    assert.equal((await server.api('/api/v1/me/password', { method: 'POST', json: { currentPassword: 'x', newPassword: 'a new password of mine' } })).status, 403);
    assert.equal((await server.api('/api/v1/me/password', { method: 'POST', json: {}, token: null })).status, 401);

    const newPassword = 'a new password of mine';
    passwords.push(newPassword);
    const changed = await change({ currentPassword: user.password, newPassword });
    assert.equal(changed.status, 204, await changed.clone().text());
    assert.equal((await login(user, user.password, user.confidential.clientId)).response.status, 200);
    assert.equal((await login(user, newPassword, user.confidential.clientId)).response.status, 302);
  });

  test('no password in clear in any event; no password or hash in a response or in the logs', async () => {
    const events = await allEvents(server);
    for (const password of passwords) assert.ok(!events.includes(password), `a password is in the event log: ${password}`);
    const hashes = [...events.matchAll(/scrypt\$[^"]+/g)].map((match) => match[0]);
    assert.ok(hashes.length > 0, 'the hashes are in the credentials streams');
    const logs = server.logs.join('\n');
    for (const secret of [...passwords, ...hashes]) assert.ok(!logs.includes(secret), 'a password or hash is in the logs');
    const users = await (await server.api(`/api/v1/organizations/${tenant.organizationId}/users`)).text();
    const user = await (await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${tenant.userId}`)).text();
    for (const body of [users, user]) {
      assert.ok(!/scrypt|password/i.test(body), `a user read carries a password: ${body}`);
      for (const password of passwords) assert.ok(!body.includes(password));
    }
  });
});
