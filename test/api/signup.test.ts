import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { linkIn, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';
import { authorizationUrl, createTenant, pkcePair, refreshRequest, signIn, submitLogin, type Tenant, userinfoRequest } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { created } from '../support/tenants.js';

const HOME = 'https://console.example.com/home';
const ERRORS = 'https://console.example.com/signup-error';

describe('sign-up with email verification (a real SMTP server)', () => {
  let smtp: TestSmtpServer;
  let server: TestServer;
  let tenant: Tenant;

  const userState = async (userId: string) =>
    ((await (await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${userId}`)).json()) as { spec: { state: string } }).spec.state;
  const open = (link: URL | string) => fetch(link, { redirect: 'manual' });
  const newUser = async (email: string, token?: string, state = 'active') =>
    (await created(server, `/api/v1/organizations/${tenant.organizationId}/users`, { metadata: { name: email.split('@')[0]!.replace(/\W/g, '') }, spec: { subject: email, state, groupIDs: [], password: 'correct horse battery staple' } }, token)).metadata.id as string;

  before(async () => {
    smtp = await startSmtpServer();
    server = await startTestServer({ env: { SIGNUP_EMAIL_VERIFICATION: 'true', SMTP_URL: smtp.url, MAIL_FROM: 'identity@example.com' } });
    tenant = await createTenant(server);
    // The tenant's console application has a home page and an error page.
    const app = `/api/v1/organizations/${tenant.organizationId}/applications/${tenant.confidential.clientId}`;
    const patched = await server.api(app, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { homeURI: HOME, errorURI: ERRORS } }) });
    assert.equal(patched.status, 200, await patched.text());
  });
  after(async () => {
    await server?.close();
    await smtp?.close();
  });

  test('a new user starts pending, cannot sign in, and the mailed link activates it', async () => {
    assert.equal(await userState(tenant.userId), 'pending');
    const mail = await smtp.nextMessage(tenant.email);
    assert.equal(mail.subject, 'Activate your account');
    assert.equal(mail.from?.value[0]?.address, 'identity@example.com');
    // Pending: the right password does not sign in.
    const { challenge } = pkcePair();
    const login = await submitLogin(
      authorizationUrl(server, { response_type: 'code', client_id: tenant.confidential.clientId, redirect_uri: tenant.redirectUri, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }),
      tenant.email,
      tenant.password,
    );
    assert.equal(login.response.status, 200);
    assert.match(login.html!, /not active yet/);

    const link = linkIn(mail);
    assert.equal(link.origin + link.pathname, `${server.baseUrl}/api/v1/signup`);
    // The bootstrap token has no application: the link names none, and the page says the account is active.
    const opened = await open(link);
    assert.equal(opened.status, 200, await opened.clone().text());
    assert.match(await opened.text(), /account is active/);
    assert.equal(await userState(tenant.userId), 'active');
    // Active now: the code flow works.
    const tokens = await signIn(server, tenant);
    assert.ok(tokens.access_token);

    // The link works once.
    const again = await open(link);
    assert.equal(again.status, 400);
    assert.match(await again.text(), /already used/);
    // Naming an application: its errorURI gets the error.
    const named = new URL(link);
    named.searchParams.set('clientID', tenant.confidential.clientId);
    const redirected = await open(named);
    assert.equal(redirected.status, 302);
    const location = new URL(redirected.headers.get('location')!);
    assert.equal(location.origin + location.pathname, ERRORS);
    assert.equal(location.searchParams.get('error'), 'used_link');
  });

  test('a user created by an administrator signed in to an application: the link returns to its homeURI', async () => {
    // Make the (now active) tenant user an administrator of its organization, and sign in through the console.
    await created(server, `/api/v1/organizations/${tenant.organizationId}/groups`, { metadata: { name: 'admins' }, spec: { roleIDs: ['administrator'], userIDs: [tenant.userId], serviceAccountIDs: [] } });
    const { access_token } = await signIn(server, tenant);
    const userId = await newUser('bob@example.com', access_token);
    assert.equal(await userState(userId), 'pending');
    const link = linkIn(await smtp.nextMessage('bob@example.com'));
    assert.equal(link.searchParams.get('clientID'), tenant.confidential.clientId);
    const opened = await open(link);
    assert.equal(opened.status, 302);
    assert.equal(opened.headers.get('location'), HOME);
    assert.equal(await userState(userId), 'active');
  });

  test('a forged, truncated or superseded link does not activate; a resend supersedes the first mail', async () => {
    const userId = await newUser('carol@example.com');
    const first = linkIn(await smtp.nextMessage('carol@example.com'));
    const token = first.searchParams.get('token')!;
    for (const forged of [`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, token.slice(0, 20), `${userId}.9.${'A'.repeat(43)}`, 'nonsense', '']) {
      const response = await open(`${server.baseUrl}/api/v1/signup?token=${encodeURIComponent(forged)}`);
      assert.equal(response.status, 400, forged);
      assert.match(await response.text(), /not valid/);
    }
    assert.equal(await userState(userId), 'pending');

    const resent = await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${userId}/signup`, { method: 'POST' });
    assert.equal(resent.status, 202, await resent.text());
    const second = linkIn(await smtp.nextMessage('carol@example.com'));
    assert.notEqual(second.searchParams.get('token'), token);
    const old = await open(first);
    assert.equal(old.status, 400);
    assert.match(await old.text(), /newer sign-up mail/);
    assert.equal((await open(second)).status, 200);
    assert.equal(await userState(userId), 'active');
    // Active: nothing to resend.
    const none = await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${userId}/signup`, { method: 'POST' });
    assert.equal(none.status, 409);
  });

  test('20 concurrent opens of one link: exactly one activates, the others are told it was used', async () => {
    const userId = await newUser('dave@example.com');
    const link = linkIn(await smtp.nextMessage('dave@example.com'));
    const answers = await Promise.all(Array.from({ length: 20 }, () => open(link)));
    const statuses = answers.map((response) => response.status).sort();
    assert.deepEqual(statuses, [200, ...Array(19).fill(400)]);
    assert.equal(await userState(userId), 'active');
  });

  test('a user made pending again cannot refresh or use its tokens', async () => {
    // The tenant's user is active (the first test opened its link).
    const tokens = await signIn(server, tenant);
    assert.ok(tokens.refresh_token);
    const path = `/api/v1/organizations/${tenant.organizationId}/users/${tenant.userId}`;
    const current = (await (await server.api(path)).json()) as { metadata: { name: string }; spec: { subject: string } };
    const toPending = await server.api(path, { method: 'PUT', json: { metadata: { name: current.metadata.name }, spec: { subject: current.spec.subject, state: 'pending' } } });
    assert.equal(toPending.status, 200, await toPending.text());
    const refreshed = await refreshRequest(server, tenant, tokens.refresh_token!);
    assert.equal(refreshed.status, 400, await refreshed.clone().text());
    assert.equal(((await refreshed.json()) as { error: string }).error, 'invalid_grant');
    assert.equal((await userinfoRequest(server, tokens.access_token)).status, 401);
    const back = await server.api(path, { method: 'PUT', json: { metadata: { name: current.metadata.name }, spec: { subject: current.spec.subject, state: 'active' } } });
    assert.equal(back.status, 200);
  });

  test('a user suspended before opening the link stays suspended; a user created suspended gets no mail', async () => {
    const userId = await newUser('erin@example.com');
    const link = linkIn(await smtp.nextMessage('erin@example.com'));
    const put = await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${userId}`, { method: 'PUT', json: { metadata: { name: 'erin' }, spec: { subject: 'erin@example.com', state: 'suspended' } } });
    assert.equal(put.status, 200, await put.text());
    const opened = await open(link);
    assert.equal(opened.status, 400);
    assert.match(await opened.text(), /cancelled/);
    assert.equal(await userState(userId), 'suspended');

    await newUser('frank@example.com', undefined, 'suspended');
    await assert.rejects(smtp.nextMessage('frank@example.com', 1500), /no mail/);
  });

  test('an SMTP server that refuses for a while: the mail goes out once it accepts again', async () => {
    smtp.refuse(true);
    const userId = await newUser('gina@example.com');
    await new Promise((resolve) => setTimeout(resolve, 500));
    smtp.refuse(false);
    const link = linkIn(await smtp.nextMessage('gina@example.com', 30_000));
    assert.equal((await open(link)).status, 200);
    assert.equal(await userState(userId), 'active');
  });

  test('no secret in the log: the event store keeps only the digest of a link, and no email address in sign-up events', async () => {
    const userId = await newUser('hank@example.com');
    const link = linkIn(await smtp.nextMessage('hank@example.com'));
    const token = link.searchParams.get('token')!;
    const secret = token.split('.')[2]!;
    const events = await server.service.stores.events.readStream(`signup-${userId}`);
    assert.ok(events.length >= 2);
    const text = JSON.stringify(events.map(({ type, data, metadata }) => ({ type, data, metadata })));
    assert.ok(!text.includes(secret), 'the link secret is not in the log');
    assert.ok(!text.includes('hank@example.com'), 'no email address in sign-up events');
    assert.ok(!server.logs.some((line) => line.includes(secret)), 'the link secret is not logged');
  });
});

describe('sign-up settings', () => {
  test('SIGNUP_EMAIL_VERIFICATION without SMTP_URL does not start', async () => {
    await assert.rejects(startTestServer({ env: { SIGNUP_EMAIL_VERIFICATION: 'true' } }), /SMTP_URL/);
  });

  test('with sign-up off, users start as asked and /api/v1/signup does not exist', async () => {
    const server = await startTestServer();
    try {
      const tenant = await createTenant(server);
      const user = (await (await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${tenant.userId}`)).json()) as { spec: { state: string } };
      assert.equal(user.spec.state, 'active');
      assert.equal((await fetch(`${server.baseUrl}/api/v1/signup?token=x`)).status, 404);
    } finally {
      await server.close();
    }
  });
});
