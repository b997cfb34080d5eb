import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { authorizationUrl, authorize, createUser, hiddenField, pkcePair, submitLogin, tokenRequest, type Tokens } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createOrganization } from '../support/tenants.js';

/**
 * A platform application serves every organization, so an email alone does not
 * say which account signs in: the person names the organization (or the
 * application does, in the authorization request), never "the oldest account".
 */
describe('sign-in through a platform application', () => {
  let server: TestServer;
  let platformClientId: string;
  const redirectUri = 'http://127.0.0.1:9/callback';
  const email = 'victim@example.com';
  const victimPassword = 'the victim password, long enough';
  const squatterPassword = 'the squatter password, long enough';
  let squatterOrg: { id: string; name: string };
  let victimOrg: { id: string; name: string };
  let squatterAccount: string;
  let victimAccount: string;

  before(async () => {
    server = await startTestServer();
    // The squatter's organization creates the email first: the oldest account with it.
    squatterOrg = { name: `squatter-${Date.now()}`, id: '' };
    squatterOrg.id = await createOrganization(server, squatterOrg.name);
    squatterAccount = await createUser(server, squatterOrg.id, email, squatterPassword);
    victimOrg = { name: `victim-${Date.now()}`, id: '' };
    victimOrg.id = await createOrganization(server, victimOrg.name);
    victimAccount = await createUser(server, victimOrg.id, email, victimPassword);
    const created = await server.api(`/api/v1/organizations/${victimOrg.id}/applications`, {
      method: 'POST',
      json: { metadata: { name: 'platform-console' }, spec: { redirectURIs: [redirectUri], grantTypes: ['authorization_code'], public: true, platform: true, groupIDs: [] } },
    });
    assert.equal(created.status, 201, await created.clone().text());
    platformClientId = ((await created.json()) as { metadata: { id: string } }).metadata.id;
  });
  after(() => server.close());

  const subjectOf = async (code: string, verifier: string) => {
    const response = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, client_id: platformClientId });
    assert.equal(response.status, 200, await response.clone().text());
    return decodeJwt(((await response.json()) as Tokens).id_token!).sub;
  };

  const request = (extra: Record<string, string> = {}) =>
    authorizationUrl(server, {
      response_type: 'code',
      client_id: platformClientId,
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: pkcePair().challenge,
      code_challenge_method: 'S256',
      ...extra,
    });

  test('the email alone signs in nobody: not the oldest account, not any account', async () => {
    for (const password of [victimPassword, squatterPassword]) {
      const { response, html } = await submitLogin(request(), email, password);
      assert.equal(response.status, 200, 'no redirect with a code');
      assert.match(html!, /role="alert"/);
    }
  });

  test('the person names the organization: their own account signs in, and the other organization grants nothing', async () => {
    const page = await (await fetch(request())).text();
    assert.match(page, /name="organization"/, 'the login page asks for the organization');
    const victim = await authorize(server, { clientId: platformClientId, redirectUri, email, password: victimPassword, scope: 'openid', organization: victimOrg.name });
    assert.equal(await subjectOf(victim.code, victim.verifier), victimAccount);
    // The victim's password in the squatter's organization: refused like any wrong password.
    const { response, html } = await submitLogin(request(), email, victimPassword, { organization: squatterOrg.name });
    assert.equal(response.status, 200);
    assert.match(html!, /not right/);
    // The squatter signs in to the squatter's own account, and only that.
    const squatter = await authorize(server, { clientId: platformClientId, redirectUri, email, password: squatterPassword, scope: 'openid', organization: squatterOrg.id });
    assert.equal(await subjectOf(squatter.code, squatter.verifier), squatterAccount);
  });

  test('an unknown organization answers as a wrong password does', async () => {
    const unknown = await submitLogin(request(), email, victimPassword, { organization: 'no-such-organization' });
    const wrong = await submitLogin(request(), email, 'not the password at all', { organization: victimOrg.name });
    assert.equal(unknown.response.status, 200);
    const alert = (html: string) => /role="alert">([^<]*)</.exec(html)?.[1];
    assert.equal(alert(unknown.html!), alert(wrong.html!));
  });

  test('the application may name the organization in its request: the form does not ask, and a posted one cannot change it', async () => {
    const { verifier, challenge } = pkcePair();
    const url = authorizationUrl(server, {
      response_type: 'code',
      client_id: platformClientId,
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      organization: victimOrg.name,
    });
    const page = await (await fetch(url)).text();
    assert.doesNotMatch(page, /name="organization"/);
    assert.ok(hiddenField(page, 'state'));
    // A posted organization does not override the one the request named.
    const other = await submitLogin(url, email, squatterPassword, { organization: squatterOrg.name });
    assert.equal(other.response.status, 200, 'the squatter password is not the victim account password');
    const { response } = await submitLogin(url, email, victimPassword);
    assert.equal(response.status, 302);
    const code = new URL(response.headers.get('location')!).searchParams.get('code')!;
    // (The verifier of this URL's challenge.)
    assert.equal(await subjectOf(code, verifier), victimAccount);
  });
});
