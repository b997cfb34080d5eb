import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { attribute } from '../../src/domain/audit/attribution.js';
import { authorizationUrl, createTenant, expectOAuthError, pkcePair, refreshRequest, signIn, submitLogin, type Tenant } from '../support/oidc.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';

/**
 * The denials an audit asks about that commands record: a slowed-down account
 * (this service throttles, it never locks: login.throttled naming the account)
 * and refresh-token reuse (session.revoked, reason refresh_token_reused).
 */
describe('locked accounts and refresh-token reuse, as an auditor finds them', () => {
  let server: TestServer;
  let tenant: Tenant;

  before(async () => {
    server = await startTestServer({ env: { THROTTLE_SOURCE_FREE_FAILURES: '1', THROTTLE_SOURCE_REQUESTS_PER_MINUTE: '1000' } });
    tenant = await createTenant(server);
  });
  after(async () => server.close());

  const loginUrl = () =>
    authorizationUrl(server, {
      response_type: 'code',
      client_id: tenant.confidential.clientId,
      redirect_uri: tenant.redirectUri,
      scope: 'openid',
      code_challenge: pkcePair().challenge,
      code_challenge_method: 'S256',
    });
  const tryUntilThrottled = async (email: string) => {
    for (let i = 0; i < 6; i++) {
      const { response } = await submitLogin(loginUrl(), email, `wrong password number ${i}`);
      if (response.status === 429) return;
    }
    assert.fail(`${email} was never slowed down`);
  };

  test('an existing account slowed down: login.throttled on its own stream, naming it by id, never the email', async () => {
    await tryUntilThrottled(tenant.email);
    const event = await eventually(async () =>
      (await server.service.stores.events.readStream(`userlogins-${tenant.userId}`)).find((e) => e.type === 'login.throttled'),
    );
    const data = event.data as Record<string, unknown>;
    assert.equal(data.userId, tenant.userId);
    assert.equal(data.organizationId, tenant.organizationId);
    assert.equal(data.clientId, tenant.confidential.clientId);
    assert.equal(data.limit, 'account_source_delay');
    assert.ok(!JSON.stringify([event.data, event.metadata]).includes(tenant.email));
    // Filed under the user and its organization, beside its failed logins.
    assert.deepEqual(attribute(event), { organizationId: tenant.organizationId, resource: { kind: 'user', id: tenant.userId } });
    const failed = (await server.service.stores.events.readStream(`userlogins-${tenant.userId}`)).filter((e) => e.type === 'user.login.failed');
    assert.ok(failed.length >= 2);
  });

  test('an email no account has, slowed down the same, is not named: the event goes to the client stream', async () => {
    const made = `nobody.${Date.now()}@example.com`;
    await tryUntilThrottled(made);
    const event = await eventually(async () =>
      (await server.service.stores.events.readStream(`loginaudit-${tenant.confidential.clientId}`)).find((e) => e.type === 'login.throttled'),
    );
    const data = event.data as Record<string, unknown>;
    assert.equal(data.userId, undefined);
    assert.equal(data.limit, 'account_source_delay');
    assert.ok(!JSON.stringify([event.data, event.metadata]).includes(made));
  });

  test('refresh-token reuse: session.revoked with reason refresh_token_reused, the client and the user', async () => {
    // A tenant of its own: the first test slowed down the other one's account from this address, for a while.
    const tenant = await createTenant(server);
    const tokens = await signIn(server, { ...tenant });
    assert.ok(tokens.refresh_token);
    const rotated = await refreshRequest(server, tenant, tokens.refresh_token);
    assert.equal(rotated.status, 200);
    // The rotated-away token again: reuse, the session ends.
    await expectOAuthError(await refreshRequest(server, tenant, tokens.refresh_token), 400, 'invalid_grant');
    const events = await server.service.stores.events.readStream(`session-${tenant.confidential.clientId}-${tenant.userId}`);
    const revoked = events.filter((e) => e.type === 'session.revoked');
    assert.equal(revoked.length, 1);
    const data = revoked[0]!.data as Record<string, unknown>;
    assert.equal(data.reason, 'refresh_token_reused');
    assert.equal(data.clientId, tenant.confidential.clientId);
    assert.equal(data.subjectId, tenant.userId);
    assert.equal(data.subjectKind, 'user');
    assert.equal(data.organizationId, tenant.organizationId);
    assert.equal(attribute(revoked[0]!).organizationId, tenant.organizationId);
    assert.ok(!JSON.stringify([revoked[0]!.data, revoked[0]!.metadata]).includes(tokens.refresh_token), 'never the token itself');
  });
});
