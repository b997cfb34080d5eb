import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  authorize,
  createTenant,
  refreshRequest,
  signIn,
  type Tenant,
  tokenRequest,
  type Tokens,
  userinfoRequest,
} from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Status and OAuth error code of each response, read in full. */
const outcomes = async (responses: Response[]) =>
  Promise.all(responses.map(async (response) => ({ status: response.status, body: (await response.json()) as Tokens & { error?: string } })));

describe('OIDC under concurrency', () => {
  let server: TestServer;
  let tenant: Tenant;

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
  });
  after(async () => server.close());

  test('50 concurrent refreshes with the same token: exactly one 200, the others invalid_grant (strict reuse detection by default)', async () => {
    const tokens = await signIn(server, tenant);
    const results = await outcomes(await Promise.all(Array.from({ length: 50 }, () => refreshRequest(server, tenant, tokens.refresh_token!))));
    assert.equal(results.filter((r) => r.status === 200).length, 1, `statuses: ${results.map((r) => r.status).join(' ')}`);
    for (const loser of results.filter((r) => r.status !== 200)) {
      assert.equal(loser.status, 400);
      assert.equal(loser.body.error, 'invalid_grant');
    }
  });

  test('with a reuse grace period, the concurrent losers do not end the winner\'s session', async () => {
    const lenient = await startTestServer({ env: { REFRESH_REUSE_GRACE_SECONDS: '10' } });
    try {
      await lenientRace(lenient);
    } finally {
      await lenient.close();
    }
  });

  async function lenientRace(server: TestServer) {
    const tenant = await createTenant(server);
    const tokens = await signIn(server, tenant);
    const results = await outcomes(await Promise.all(Array.from({ length: 50 }, () => refreshRequest(server, tenant, tokens.refresh_token!))));
    const winners = results.filter((r) => r.status === 200);
    assert.equal(winners.length, 1, `statuses: ${results.map((r) => r.status).join(' ')}`);
    for (const loser of results.filter((r) => r.status !== 200)) {
      assert.equal(loser.status, 400);
      assert.equal(loser.body.error, 'invalid_grant');
    }
    // The concurrent losers did not count as reuse: the winner's tokens still work.
    const winner = winners[0]!.body;
    assert.equal((await userinfoRequest(server, winner.access_token)).status, 200);
    const next = await refreshRequest(server, tenant, winner.refresh_token!);
    assert.equal(next.status, 200, await next.clone().text());
    const rotated = (await next.json()) as Tokens;
    assert.equal((await userinfoRequest(server, rotated.access_token)).status, 200);
  }

  test('10 concurrent redemptions of one code: exactly one gets tokens, and the session it created is revoked', async () => {
    const { code, verifier } = await authorize(server, {
      clientId: tenant.confidential.clientId,
      redirectUri: tenant.redirectUri,
      email: tenant.email,
      password: tenant.password,
    });
    const redeem = () =>
      tokenRequest(
        server,
        { grant_type: 'authorization_code', code, redirect_uri: tenant.redirectUri, code_verifier: verifier },
        { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret },
      );
    const results = await outcomes(await Promise.all(Array.from({ length: 10 }, redeem)));
    const winners = results.filter((r) => r.status === 200);
    assert.equal(winners.length, 1, `statuses: ${results.map((r) => r.status).join(' ')}`);
    for (const loser of results.filter((r) => r.status !== 200)) {
      assert.equal(loser.status, 400);
      assert.equal(loser.body.error, 'invalid_grant');
    }
    // The code was used more than once: the session it started is over.
    const winner = winners[0]!.body;
    assert.equal((await userinfoRequest(server, winner.access_token)).status, 401);
    const refreshed = await refreshRequest(server, tenant, winner.refresh_token!);
    assert.equal(refreshed.status, 400);
    assert.equal(((await refreshed.json()) as { error: string }).error, 'invalid_grant');
  });

  test('a second, later use of a code is refused and revokes the session of the first', async () => {
    const { code, verifier } = await authorize(server, {
      clientId: tenant.confidential.clientId,
      redirectUri: tenant.redirectUri,
      email: tenant.email,
      password: tenant.password,
    });
    const form = { grant_type: 'authorization_code', code, redirect_uri: tenant.redirectUri, code_verifier: verifier };
    const auth = { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret };
    const first = await tokenRequest(server, form, auth);
    assert.equal(first.status, 200);
    const tokens = (await first.json()) as Tokens;
    assert.equal((await userinfoRequest(server, tokens.access_token)).status, 200);

    const second = await tokenRequest(server, form, auth);
    assert.equal(second.status, 400);
    assert.equal(((await second.json()) as { error: string }).error, 'invalid_grant');
    assert.equal((await userinfoRequest(server, tokens.access_token)).status, 401);
    assert.equal((await refreshRequest(server, tenant, tokens.refresh_token!)).status, 400);
  });

  test('concurrent logins of the same user through the same client: each gets tokens, only the last session stays', async () => {
    const sessions = await Promise.all(Array.from({ length: 4 }, () => signIn(server, tenant)));
    const live = await Promise.all(sessions.map(async (tokens) => (await userinfoRequest(server, tokens.access_token)).status));
    assert.equal(live.filter((status) => status === 200).length, 1, `userinfo statuses: ${live.join(' ')}`);
  });
});
