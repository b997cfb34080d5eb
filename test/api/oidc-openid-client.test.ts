import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { createTenant, submitLogin, type Tenant } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('OIDC with openid-client', () => {
  let server: TestServer;
  let tenant: Tenant;
  let config: client.Configuration;

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
    config = await client.discovery(new URL(server.baseUrl), tenant.confidential.clientId, tenant.confidential.clientSecret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    client.enableNonRepudiationChecks(config);
  });
  after(async () => server.close());

  async function login(scope = 'openid email profile offline_access') {
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: tenant.redirectUri,
      scope,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const { response } = await submitLogin(url.href, tenant.email, tenant.password);
    assert.equal(response.status, 302);
    const location = new URL(response.headers.get('location')!);
    assert.equal(location.searchParams.get('iss'), server.baseUrl);
    assert.equal(location.searchParams.get('state'), state);
    const tokens = await client.authorizationCodeGrant(config, location, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce });
    return { tokens, location };
  }

  test('discovery, code flow with PKCE, a signed ID token, userinfo', async () => {
    const { tokens } = await login();
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    const claims = tokens.claims()!;
    assert.equal(claims.sub, tenant.userId);
    assert.equal(claims.aud, tenant.confidential.clientId);
    assert.equal(claims.email, tenant.email);
    assert.ok(claims.auth_time);
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, tenant.userId);
    assert.equal(info.email, tenant.email);
  });

  test('refresh rotation; reuse of a rotated refresh token is invalid_grant and kills the session', async () => {
    const { tokens } = await login();
    const first = tokens.refresh_token!;
    const rotated = await client.refreshTokenGrant(config, first);
    assert.ok(rotated.refresh_token && rotated.refresh_token !== first);
    const again = await client.refreshTokenGrant(config, rotated.refresh_token!);
    assert.ok(again.access_token);

    await assert.rejects(client.refreshTokenGrant(config, first), (error: any) => error.error === 'invalid_grant');
    // The whole session is gone: the current refresh token and access token too.
    await assert.rejects(client.refreshTokenGrant(config, again.refresh_token!), (error: any) => error.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(config, again.access_token, client.skipSubjectCheck));
  });

  test('client credentials', async () => {
    const tokens = await client.clientCredentialsGrant(config);
    assert.ok(tokens.access_token);
    assert.equal(tokens.refresh_token, undefined);
  });

  test('a new login supersedes the previous session of the same client and user', async () => {
    const { tokens: first } = await login();
    const { tokens: second } = await login();
    await assert.rejects(client.refreshTokenGrant(config, first.refresh_token!), (error: any) => error.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(config, first.access_token, client.skipSubjectCheck));
    assert.ok((await client.fetchUserInfo(config, second.access_token, client.skipSubjectCheck)).sub);
  });
});
