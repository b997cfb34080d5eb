import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorize, createTenant, signIn, type Tenant, tokenRequest } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** The seed's spellings of the token endpoint (oauth2V2TokenPost) and of userinfo. */
describe("the seed's token endpoint", () => {
  let server: TestServer;
  let tenant: Tenant;

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
  });
  after(() => server.close());

  test('grant_type=code is the authorization code grant', async () => {
    const { code, verifier } = await authorize(server, {
      clientId: tenant.confidential.clientId,
      redirectUri: tenant.redirectUri,
      email: tenant.email,
      password: tenant.password,
    });
    const response = await tokenRequest(
      server,
      { grant_type: 'code', code, redirect_uri: tenant.redirectUri, code_verifier: verifier },
      { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret },
    );
    assert.equal(response.status, 200, await response.clone().text());
    const body = (await response.json()) as { access_token: string; id_token?: string };
    assert.ok(body.access_token && body.id_token);
  });

  test('POST /userinfo with only a bearer header and no body', async () => {
    const { access_token } = await signIn(server, tenant);
    for (const headers of [{}, { 'content-type': 'application/x-www-form-urlencoded' }] as Record<string, string>[]) {
      const response = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { method: 'POST', headers: { authorization: `Bearer ${access_token}`, ...headers } });
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(((await response.json()) as { sub: string }).sub, tenant.userId);
    }
  });
});
