import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import {
  authorizationUrl,
  authorize,
  createTenant,
  createUser,
  hiddenField,
  pkcePair,
  submitLogin,
  type Tenant,
  tokenRequest,
  type Tokens,
} from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('authorization endpoint and login page', () => {
  let server: TestServer;
  let tenant: Tenant;
  const { challenge } = pkcePair();

  /** A valid request of the tenant's confidential client; override what the test is about. */
  const parameters = (overrides: Record<string, string | undefined> = {}): Record<string, string> => {
    const all: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: tenant.confidential.clientId,
      redirect_uri: tenant.redirectUri,
      scope: 'openid email',
      state: 'the-state',
      nonce: 'the-nonce',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...overrides,
    };
    return Object.fromEntries(Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== undefined));
  };
  const get = (overrides: Record<string, string | undefined> = {}) => fetch(authorizationUrl(server, parameters(overrides)), { redirect: 'manual' });

  async function expectErrorPage(response: Response, status = 400) {
    const html = await response.text();
    assert.equal(response.status, status, html);
    assert.equal(response.headers.get('location'), null, 'an error page, never a redirect');
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(html, /role="alert"/);
    return html;
  }

  async function expectRedirectError(response: Response, error: string, state: string | null = 'the-state') {
    assert.equal(response.status, 302, await response.text());
    const location = new URL(response.headers.get('location')!);
    assert.equal(`${location.origin}${location.pathname}`, tenant.redirectUri);
    assert.equal(location.searchParams.get('error'), error);
    assert.ok(location.searchParams.get('error_description'));
    assert.equal(location.searchParams.get('state'), state);
    assert.equal(location.searchParams.get('iss'), server.baseUrl);
    assert.equal(location.searchParams.get('code'), null);
  }

  /** Post the login form of a page, as a browser would. */
  async function postLogin(html: string, fields: Record<string, string>) {
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    assert.ok(action, 'a login form');
    return fetch(new URL(action, server.baseUrl), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ state: hiddenField(html, 'state')!, ...fields }),
    });
  }

  async function expectLoginError(response: Response, message: RegExp) {
    const html = await response.text();
    assert.equal(response.status, 200, html);
    assert.match(html, /role="alert"/);
    assert.match(html, message);
    assert.match(html, /<form method="post"/, 'the form again, to try once more');
    return html;
  }

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
  });
  after(async () => server.close());

  test('an unknown or disabled client, or a redirect URI not registered, gets an HTML error page, never a redirect', async () => {
    await expectErrorPage(await get({ client_id: 'no-such-client' }));
    await expectErrorPage(await get({ client_id: undefined }));
    await expectErrorPage(await get({ redirect_uri: 'http://127.0.0.1:9/elsewhere' }));
    await expectErrorPage(await get({ redirect_uri: `${tenant.redirectUri}/more` }));
    await expectErrorPage(await get({ redirect_uri: undefined }));
    // Even with other errors in the request, the client and redirect URI are checked first.
    await expectErrorPage(await get({ client_id: 'no-such-client', response_type: 'token' }));

    const app = await server.api(`/api/v1/organizations/${tenant.organizationId}/applications`, {
      method: 'POST',
      json: { metadata: { name: 'disabled' }, spec: { redirectURIs: [tenant.redirectUri], grantTypes: ['authorization_code'], public: true, enabled: false, groupIDs: [] } },
    });
    assert.equal(app.status, 201);
    await expectErrorPage(await get({ client_id: ((await app.json()) as { metadata: { id: string } }).metadata.id }));
  });

  test('other errors go back to the client with error, state and iss', async () => {
    await expectRedirectError(await get({ response_type: 'token' }), 'unsupported_response_type');
    await expectRedirectError(await get({ response_type: 'code id_token' }), 'unsupported_response_type');
    await expectRedirectError(await get({ response_type: undefined }), 'invalid_request');
    await expectRedirectError(await get({ code_challenge: undefined, code_challenge_method: undefined }), 'invalid_request');
    await expectRedirectError(await get({ code_challenge_method: 'plain' }), 'invalid_request');
    await expectRedirectError(await get({ code_challenge_method: undefined }), 'invalid_request');
    await expectRedirectError(await get({ code_challenge: 'too-short' }), 'invalid_request');
    await expectRedirectError(await get({ scope: 'openid admin' }), 'invalid_scope');
    await expectRedirectError(await get({ prompt: 'none' }), 'login_required');
    await expectRedirectError(await get({ request: 'eyJ.eyJ.sig' }), 'request_not_supported');
    await expectRedirectError(await get({ response_mode: 'fragment' }), 'invalid_request');
    await expectRedirectError(await get({ state: undefined, response_type: 'token' }), 'unsupported_response_type', null);
  });

  test('GET and POST take every parameter of the seed; state and nonce pass through to the client and the ID token', async () => {
    const { verifier, challenge: ownChallenge } = pkcePair();
    const all = parameters({
      code_challenge: ownChallenge,
      scope: 'openid email profile',
      state: 'state with spaces & symbols',
      nonce: 'nonce-123',
      max_age: '3600',
      display: 'page',
      prompt: 'login',
      ui_locales: 'en fr',
      id_token_hint: 'eyJhbGciOiJub25lIn0.e30.',
      login_hint: tenant.email,
      acr_values: 'urn:mace:incommon:iap:silver',
    });
    const viaGet = await fetch(authorizationUrl(server, all), { redirect: 'manual' });
    const viaPost = await fetch(`${server.baseUrl}/oauth2/v2/authorization`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(all),
    });
    for (const [method, page] of [['GET', viaGet], ['POST', viaPost]] as const) {
      const html = await page.text();
      assert.equal(page.status, 200, `${method}: ${html}`);
      assert.match(page.headers.get('cache-control') ?? '', /no-store/);
      assert.equal(page.headers.get('x-frame-options'), 'DENY');
      assert.ok(html.includes(`value="${tenant.email}"`), `${method}: login_hint fills in the email`);
      const done = await postLogin(html, { email: tenant.email, password: tenant.password });
      assert.equal(done.status, 302, `${method}: ${await done.clone().text()}`);
      const location = new URL(done.headers.get('location')!);
      assert.equal(location.searchParams.get('state'), 'state with spaces & symbols');
      assert.equal(location.searchParams.get('iss'), server.baseUrl);
      const response = await tokenRequest(
        server,
        { grant_type: 'authorization_code', code: location.searchParams.get('code')!, redirect_uri: tenant.redirectUri, code_verifier: verifier },
        { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret },
      );
      // A 500 here was seen once in a full run and not again in 40 runs under load: the service's error log says why.
      assert.equal(response.status, 200, `${await response.clone().text()}\n${server.logs.filter((line) => line.includes('"level":50')).join('\n')}`);
      const claims = decodeJwt(((await response.json()) as Tokens).id_token!);
      assert.equal(claims.nonce, 'nonce-123');
      assert.equal(claims.sub, tenant.userId);
    }
  });

  test('login errors are shown on the page: wrong password, unknown user, suspended user, nothing typed', async () => {
    const page = async () => {
      const response = await get();
      assert.equal(response.status, 200);
      return response.text();
    };
    const wrong = await expectLoginError(await postLogin(await page(), { email: tenant.email, password: 'not the password' }), /not right/);
    assert.ok(wrong.includes(`value="${tenant.email}"`), 'the email stays filled in');
    assert.ok(!wrong.includes('not the password'), 'the password is not echoed back');
    // An unknown user gets the same answer as a wrong password: no telling who has an account.
    await expectLoginError(await postLogin(await page(), { email: 'nobody@example.com', password: 'whatever it is' }), /not right/);
    await expectLoginError(await postLogin(await page(), { email: '', password: '' }), /Enter your email and password/);

    const suspendedEmail = `suspended.${Date.now()}@example.com`;
    await createUser(server, tenant.organizationId, suspendedEmail, 'a suspended user password', 'suspended');
    await expectLoginError(await postLogin(await page(), { email: suspendedEmail, password: 'a suspended user password' }), /suspended/);
    // Email addresses are not case sensitive.
    const upper = await postLogin(await page(), { email: tenant.email.toUpperCase(), password: tenant.password });
    assert.equal(upper.status, 302, await upper.clone().text());
  });

  test('an altered or missing login request is refused with an error page', async () => {
    const html = await (await get()).text();
    const state = hiddenField(html, 'state')!;
    const post = (body: Record<string, string>) =>
      fetch(`${server.baseUrl}/oauth2/v2/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(body),
      });
    await expectErrorPage(await post({ email: tenant.email, password: tenant.password }));
    await expectErrorPage(await post({ state: `${state.slice(0, -4)}AAAA`, email: tenant.email, password: tenant.password }));
    await expectErrorPage(await post({ state: 'garbage', email: tenant.email, password: tenant.password }));
  });

  test('login through an application is open to its organization only, unless it is a platform application', async () => {
    const other = await createTenant(server);
    // The other organization's user, at this organization's application: not found, like a wrong password.
    const url = authorizationUrl(server, parameters());
    const { response, html } = await submitLogin(url, other.email, other.password);
    assert.equal(response.status, 200);
    assert.match(html!, /role="alert"/);

    // A platform application (only a platform administrator may make one) takes users of every organization,
    // each signing in to the organization they name (test/api/oidc-platform-login.test.ts has the details).
    const created = await server.api(`/api/v1/organizations/${tenant.organizationId}/applications`, {
      method: 'POST',
      json: { metadata: { name: 'platform-console' }, spec: { redirectURIs: [tenant.redirectUri], grantTypes: ['authorization_code'], public: true, platform: true, groupIDs: [] } },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const platformClientId = ((await created.json()) as { metadata: { id: string } }).metadata.id;
    for (const user of [tenant, other]) {
      const { code, verifier } = await authorize(server, {
        clientId: platformClientId,
        redirectUri: tenant.redirectUri,
        email: user.email,
        password: user.password,
        organization: user.organizationId,
      });
      const tokens = await tokenRequest(server, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: tenant.redirectUri,
        code_verifier: verifier,
        client_id: platformClientId,
      });
      assert.equal(tokens.status, 200, await tokens.clone().text());
      assert.equal(decodeJwt(((await tokens.json()) as Tokens).id_token!).sub, user.userId);
    }
  });
});
