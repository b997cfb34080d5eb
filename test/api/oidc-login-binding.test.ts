import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorizationUrl, createTenant, hiddenField, pkcePair, type Tenant } from '../support/oidc.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';

/**
 * Every step of a login is bound to the authorization request that started
 * it: the pending-login state, the password-change ticket, the client and
 * the organization. Mixing the steps of two flows is a 400 page and an event.
 */
describe('a login flow is bound to the request that started it', () => {
  let server: TestServer;
  let a: Tenant;
  let b: Tenant;

  before(async () => {
    server = await startTestServer();
    a = await createTenant(server);
    b = await createTenant(server);
  });
  after(() => server.close());

  const form = (path: string, fields: Record<string, string>) =>
    fetch(`${server.baseUrl}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });

  /** The login form's state for a client of a tenant. */
  async function loginState(tenant: Tenant): Promise<string> {
    const page = await fetch(
      authorizationUrl(server, {
        response_type: 'code',
        client_id: tenant.confidential.clientId,
        redirect_uri: tenant.redirectUri,
        scope: 'openid email',
        code_challenge: pkcePair().challenge,
        code_challenge_method: 'S256',
        state: 'client-state',
      }),
    );
    assert.equal(page.status, 200);
    return hiddenField(await page.text(), 'state')!;
  }

  /** Reset the tenant user's password and sign in with the temporary one: answers the new-password page's state and ticket. */
  async function forcedChange(tenant: Tenant): Promise<{ state: string; ticket: string }> {
    const reset = await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${tenant.userId}/password`, { method: 'POST' });
    assert.equal(reset.status, 200);
    const { tempPassword } = (await reset.json()) as { tempPassword: string };
    const state = await loginState(tenant);
    const response = await form('/oauth2/v2/login', { state, email: tenant.email, password: tempPassword });
    const html = await response.text();
    assert.equal(response.status, 200, html);
    const ticket = hiddenField(html, 'ticket');
    assert.ok(ticket, 'the new-password page carries a ticket');
    return { state: hiddenField(html, 'state')!, ticket };
  }

  const rejections = async () =>
    (await server.service.stores.events.readAll({ maxCount: 100_000 })).filter((event) => event.type === 'login.flow.rejected');

  test("B's password-change ticket with A's pending state is refused, and recorded", async () => {
    const before = (await rejections()).length;
    const { ticket } = await forcedChange(b);
    const foreignState = await loginState(a);
    const response = await form('/oauth2/v2/login/password', {
      state: foreignState,
      ticket,
      new_password: 'a new password for b user',
      confirm_password: 'a new password for b user',
    });
    const html = await response.text();
    assert.equal(response.status, 400, `no code for A's application: ${response.status} ${response.headers.get('location') ?? html}`);
    assert.equal(response.headers.get('location'), null);
    const recorded = await eventually(async () => {
      const events = await rejections();
      return events.length > before && events;
    });
    const last = recorded.at(-1)!.data as Record<string, unknown>;
    assert.equal(last.reason, 'ticket_not_for_this_flow');
    assert.equal(JSON.stringify(last).includes(ticket), false, 'the event carries no ticket');
  });

  test("a ticket of the same client's other flow is refused too", async () => {
    const { ticket } = await forcedChange(b);
    const otherFlow = await loginState(b);
    const response = await form('/oauth2/v2/login/password', {
      state: otherFlow,
      ticket,
      new_password: 'another new password b',
      confirm_password: 'another new password b',
    });
    assert.equal(response.status, 400);
  });

  test('the ticket with its own flow still works', async () => {
    const { state, ticket } = await forcedChange(a);
    const response = await form('/oauth2/v2/login/password', {
      state,
      ticket,
      new_password: 'the new password of a',
      confirm_password: 'the new password of a',
    });
    assert.equal(response.status, 302, await response.text());
    const location = new URL(response.headers.get('location')!);
    assert.ok(location.searchParams.get('code'));
    assert.equal(location.searchParams.get('state'), 'client-state');
  });

  test('a forged or altered state is refused', async () => {
    const state = await loginState(a);
    const [header, payload, signature] = state.split('.');
    const altered = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    altered.client_id = b.confidential.clientId;
    const forged = `${header}.${Buffer.from(JSON.stringify(altered)).toString('base64url')}.${signature}`;
    const response = await form('/oauth2/v2/login', { state: forged, email: a.email, password: a.password });
    assert.equal(response.status, 400);
  });
});
