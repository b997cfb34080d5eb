import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorizationUrl, createTenant, createUser, pkcePair, signIn, submitLogin, type Tenant } from '../support/oidc.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';

/** Login events: who signed in where and how, and the failed attempts of existing accounts (never the password tried). */
describe('login events', () => {
  let server: TestServer;
  let tenant: Tenant;
  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
  });
  after(async () => {
    await server?.close();
  });

  const loginUrl = () =>
    authorizationUrl(server, { response_type: 'code', client_id: tenant.confidential.clientId, redirect_uri: tenant.redirectUri, scope: 'openid', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
  const loginEvents = async (userId: string) =>
    (await server.service.stores.events.readStream(`userlogins-${userId}`)).map(({ type, data }) => ({ type, data: data as Record<string, unknown> }));

  test('a wrong password of an existing account: user.login.failed with the reason, client and address, never the password', async () => {
    const wrong = 'not the right password at all';
    const { response } = await submitLogin(loginUrl(), tenant.email, wrong, {});
    assert.equal(response.status, 200);
    const [failed] = await eventually(async () => {
      const events = (await loginEvents(tenant.userId)).filter((event) => event.type === 'user.login.failed');
      return events.length > 0 && events;
    });
    assert.equal(failed!.data.reason, 'wrong_password');
    assert.equal(failed!.data.method, 'password');
    assert.equal(failed!.data.clientId, tenant.confidential.clientId);
    assert.ok(failed!.data.sourceAddress);
    assert.ok(!JSON.stringify((await server.service.stores.events.readAll()).map(({ type, data, metadata }) => ({ type, data, metadata }))).includes(wrong), 'the password tried is nowhere in the log');
  });

  test('a successful login: user.login.succeeded', async () => {
    await signIn(server, tenant);
    const events = await loginEvents(tenant.userId);
    assert.ok(events.some((event) => event.type === 'user.login.succeeded' && event.data.method === 'password'));
  });

  test('a suspended account with the right password: user.login.failed, account_suspended', async () => {
    const email = `sus.${Date.now()}@example.com`;
    const userId = await createUser(server, tenant.organizationId, email, tenant.password, 'suspended');
    const { html } = await submitLogin(loginUrl(), email, tenant.password, {});
    assert.match(html!, /suspended/);
    const failed = await eventually(async () => (await loginEvents(userId)).find((event) => event.type === 'user.login.failed'));
    assert.equal(failed.data.reason, 'account_suspended');
  });

  test('an email no account has writes nothing: a flood of made-up emails does not grow the log', async () => {
    const before = (await server.service.stores.events.readAll()).length;
    const { response } = await submitLogin(loginUrl(), `nobody.${Date.now()}@example.com`, 'whatever password it is', {});
    assert.equal(response.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await server.service.stores.events.readAll();
    assert.equal(after.slice(before).filter((event) => event.type === 'user.login.failed').length, 0);
  });
});
