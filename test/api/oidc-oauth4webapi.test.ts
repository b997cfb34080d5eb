import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import * as oauth from 'oauth4webapi';
import { createTenant, submitLogin, type Tenant } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** The test server speaks plain HTTP on 127.0.0.1: oauth4webapi refuses that unless told. */
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe('OIDC with oauth4webapi', () => {
  let server: TestServer;
  let tenant: Tenant;
  let as: oauth.AuthorizationServer;
  let confidential: oauth.Client;
  let publicClient: oauth.Client;
  let basic: oauth.ClientAuth;

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
    const issuer = new URL(server.baseUrl);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }));
    confidential = { client_id: tenant.confidential.clientId, id_token_signed_response_alg: 'ES256' };
    publicClient = { client_id: tenant.publicClientId, id_token_signed_response_alg: 'ES256' };
    basic = oauth.ClientSecretBasic(tenant.confidential.clientSecret);
  });
  after(async () => server.close());

  /** The code flow with PKCE; the ID token's signature is checked against the JWKS. */
  async function login(client: oauth.Client, auth: oauth.ClientAuth, scope = 'openid email profile offline_access') {
    const codeVerifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: tenant.redirectUri,
      response_type: 'code',
      scope,
      state,
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    }).toString();
    const { response: loginResponse } = await submitLogin(url.href, tenant.email, tenant.password);
    assert.equal(loginResponse.status, 302);
    const callback = new URL(loginResponse.headers.get('location')!);
    // Checks iss (RFC 9207, advertised in discovery) and state.
    const parameters = oauth.validateAuthResponse(as, client, callback, state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, auth, parameters, tenant.redirectUri, codeVerifier, insecure);
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: scope.includes('openid') });
    if (result.id_token) await oauth.validateApplicationLevelSignature(as, response, insecure);
    return { result, nonce };
  }

  test('discovery lists every endpoint, revocation and introspection included, and what is really supported', () => {
    assert.equal(as.issuer, server.baseUrl);
    for (const endpoint of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'revocation_endpoint', 'introspection_endpoint'] as const) {
      assert.ok(as[endpoint]?.startsWith(server.baseUrl), endpoint);
    }
    assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(as.response_types_supported, ['code']);
    assert.deepEqual(as.id_token_signing_alg_values_supported, ['ES256']);
    assert.equal(as.authorization_response_iss_parameter_supported, true);
    for (const method of ['client_secret_basic', 'client_secret_post']) assert.ok(as.token_endpoint_auth_methods_supported?.includes(method));
  });

  test('code flow with PKCE: a signed ID token with the claims of the scopes and a right at_hash; userinfo', async () => {
    const { result, nonce } = await login(confidential, basic);
    const claims = oauth.getValidatedIdTokenClaims(result)!;
    assert.equal(claims.sub, tenant.userId);
    assert.equal(claims.aud, tenant.confidential.clientId);
    assert.equal(claims.azp, tenant.confidential.clientId);
    assert.equal(claims.nonce, nonce);
    assert.equal(claims.email, tenant.email);
    assert.equal(typeof claims.name, 'string');
    assert.ok(typeof claims.auth_time === 'number' && Math.abs(claims.auth_time - Date.now() / 1000) < 60);
    // at_hash: the left half of SHA-256 of the access token, base64url (OIDC Core 3.1.3.6, ES256).
    const expected = createHash('sha256').update(result.access_token).digest().subarray(0, 16).toString('base64url');
    assert.equal(claims.at_hash, expected);
    assert.equal(decodeProtectedHeader(result.id_token!).alg, 'ES256');
    assert.ok(decodeProtectedHeader(result.id_token!).kid);

    const info = await oauth.processUserInfoResponse(as, confidential, claims.sub, await oauth.userInfoRequest(as, confidential, result.access_token, insecure));
    assert.equal(info.sub, tenant.userId);
    assert.equal(info.email, tenant.email);
  });

  test('without the email and profile scopes the ID token and userinfo carry neither', async () => {
    const { result } = await login(confidential, basic, 'openid');
    const claims = oauth.getValidatedIdTokenClaims(result)!;
    assert.equal(claims.email, undefined);
    assert.equal(claims.name, undefined);
    assert.equal(result.refresh_token, undefined, 'no offline_access, no refresh token');
    const info = await oauth.processUserInfoResponse(as, confidential, claims.sub, await oauth.userInfoRequest(as, confidential, result.access_token, insecure));
    assert.deepEqual(info, { sub: tenant.userId });
  });

  test('access tokens are RFC 9068 JWTs: typ at+jwt, kid, and the claims a resource server checks', async () => {
    const { result } = await login(confidential, basic);
    const header = decodeProtectedHeader(result.access_token);
    assert.equal(header.typ, 'at+jwt');
    assert.ok(header.kid);
    const request = new Request(`${server.baseUrl}/resource`, { headers: { authorization: `Bearer ${result.access_token}` } });
    // Verifies the signature against the JWKS, typ, iss, aud, exp and that every required claim is there.
    const claims = await oauth.validateJwtAccessToken(as, request, server.baseUrl, insecure);
    assert.equal(claims.sub, tenant.userId);
    assert.equal(claims.client_id, tenant.confidential.clientId);
    assert.equal(claims.iss, server.baseUrl);
    assert.ok(claims.jti && claims.iat && claims.exp > claims.iat);
    assert.equal(typeof claims.sid, 'string');
    assert.equal(claims.scope, 'openid email profile offline_access');
  });

  test('refresh rotation; reuse of a rotated refresh token is invalid_grant and kills the session', async () => {
    const { result } = await login(confidential, basic);
    const first = result.refresh_token!;
    const rotated = await oauth.processRefreshTokenResponse(as, confidential, await oauth.refreshTokenGrantRequest(as, confidential, basic, first, insecure));
    assert.ok(rotated.refresh_token && rotated.refresh_token !== first);
    assert.ok(rotated.id_token, 'a refresh with openid answers a new ID token');
    const again = await oauth.processRefreshTokenResponse(as, confidential, await oauth.refreshTokenGrantRequest(as, confidential, basic, rotated.refresh_token!, insecure));
    await assert.doesNotReject(oauth.processUserInfoResponse(as, confidential, oauth.skipSubjectCheck, await oauth.userInfoRequest(as, confidential, again.access_token, insecure)));

    const reuse = await oauth.refreshTokenGrantRequest(as, confidential, basic, first, insecure);
    await assert.rejects(oauth.processRefreshTokenResponse(as, confidential, reuse), (error: oauth.ResponseBodyError) => error.error === 'invalid_grant' && error.status === 400);
    // The whole session is gone: its current refresh token and its access token too.
    const current = await oauth.refreshTokenGrantRequest(as, confidential, basic, again.refresh_token!, insecure);
    await assert.rejects(oauth.processRefreshTokenResponse(as, confidential, current), (error: oauth.ResponseBodyError) => error.error === 'invalid_grant');
    const info = await oauth.userInfoRequest(as, confidential, again.access_token, insecure);
    assert.equal(info.status, 401);
  });

  test('a public client: PKCE and no secret, refresh included', async () => {
    const { result } = await login(publicClient, oauth.None());
    assert.equal(oauth.getValidatedIdTokenClaims(result)!.aud, tenant.publicClientId);
    const rotated = await oauth.processRefreshTokenResponse(as, publicClient, await oauth.refreshTokenGrantRequest(as, publicClient, oauth.None(), result.refresh_token!, insecure));
    assert.ok(rotated.access_token);
  });

  test('client credentials with client_secret_basic and with client_secret_post', async () => {
    for (const auth of [basic, oauth.ClientSecretPost(tenant.confidential.clientSecret)]) {
      const result = await oauth.processClientCredentialsResponse(as, confidential, await oauth.clientCredentialsGrantRequest(as, confidential, auth, {}, insecure));
      assert.equal(result.token_type, 'bearer');
      assert.equal(result.refresh_token, undefined);
      const claims = await oauth.validateJwtAccessToken(
        as,
        new Request(server.baseUrl, { headers: { authorization: `Bearer ${result.access_token}` } }),
        server.baseUrl,
        insecure,
      );
      assert.equal(claims.sub, tenant.confidential.clientId);
      assert.equal(claims.client_id, tenant.confidential.clientId);
    }
    const wrong = await oauth.clientCredentialsGrantRequest(as, confidential, oauth.ClientSecretPost('not-the-secret'), {}, insecure);
    await assert.rejects(oauth.processClientCredentialsResponse(as, confidential, wrong), (error: oauth.ResponseBodyError) => error.error === 'invalid_client' && error.status === 401);
  });

  test('introspection (RFC 7662) of access and refresh tokens, and revocation (RFC 7009) ending the session', async () => {
    const { result } = await login(confidential, basic);
    const introspect = async (token: string) =>
      oauth.processIntrospectionResponse(as, confidential, await oauth.introspectionRequest(as, confidential, basic, token, insecure));

    const access = await introspect(result.access_token);
    assert.equal(access.active, true);
    assert.equal(access.sub, tenant.userId);
    assert.equal(access.client_id, tenant.confidential.clientId);
    assert.equal(access.scope, 'openid email profile offline_access');
    assert.equal(typeof access.exp, 'number');
    const refresh = await introspect(result.refresh_token!);
    assert.equal(refresh.active, true);
    assert.equal(refresh.sub, tenant.userId);
    assert.equal((await introspect('not-a-token')).active, false);

    // Revoking the refresh token ends the session: both tokens become inactive, and stop working.
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, confidential, basic, result.refresh_token!, insecure));
    assert.equal((await introspect(result.access_token)).active, false);
    assert.equal((await introspect(result.refresh_token!)).active, false);
    assert.equal((await oauth.userInfoRequest(as, confidential, result.access_token, insecure)).status, 401);
    const refreshed = await oauth.refreshTokenGrantRequest(as, confidential, basic, result.refresh_token!, insecure);
    await assert.rejects(oauth.processRefreshTokenResponse(as, confidential, refreshed), (error: oauth.ResponseBodyError) => error.error === 'invalid_grant');
    // Revoking again, or revoking garbage, is not an error (RFC 7009 2.2).
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, confidential, basic, result.refresh_token!, insecure));
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, confidential, basic, 'garbage', insecure));
  });

  test('revoking an access token ends its session too', async () => {
    const { result } = await login(confidential, basic);
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, confidential, oauth.ClientSecretPost(tenant.confidential.clientSecret), result.access_token, insecure),
    );
    assert.equal((await oauth.userInfoRequest(as, confidential, result.access_token, insecure)).status, 401);
    const refreshed = await oauth.refreshTokenGrantRequest(as, confidential, basic, result.refresh_token!, insecure);
    await assert.rejects(oauth.processRefreshTokenResponse(as, confidential, refreshed), (error: oauth.ResponseBodyError) => error.error === 'invalid_grant');
  });

  test("another organization's client learns nothing from introspection or revocation of this one's tokens", async () => {
    const other = await createTenant(server);
    const otherClient: oauth.Client = { client_id: other.confidential.clientId };
    const otherAuth = oauth.ClientSecretBasic(other.confidential.clientSecret);
    const { result } = await login(confidential, basic);
    for (const token of [result.access_token, result.refresh_token!]) {
      const seen = await oauth.processIntrospectionResponse(as, otherClient, await oauth.introspectionRequest(as, otherClient, otherAuth, token, insecure));
      assert.deepEqual(seen, { active: false });
      await oauth.processRevocationResponse(await oauth.revocationRequest(as, otherClient, otherAuth, token, insecure));
    }
    // Nothing was revoked by the other client.
    assert.equal((await oauth.userInfoRequest(as, confidential, result.access_token, insecure)).status, 200);
  });
});
