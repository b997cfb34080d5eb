import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { beginAuthorization, callback, created, type FederationRig, postIdentifier, redeem, startFederationRig } from '../support/federation.js';
import { upstreamLogin } from '../support/upstream.js';

const ONBOARDING = 'https://console.example.com/onboarding';

/**
 * Onboarding (a real upstream OpenID provider): a federated user with no
 * account, signing in to a platform application with an onboardingURI, makes
 * an organization, a group and its user, and gets a code.
 */
describe('federated onboarding', () => {
  let rig: FederationRig;
  let client: { clientId: string; redirectUri: string };
  let n = 0;

  before(async () => {
    rig = await startFederationRig({ env: { FEDERATED_ONBOARDING: 'true' } });
    const home = await created(rig.server, '/api/v1/organizations', { metadata: { name: `platform-${Date.now()}` }, spec: { organizationType: 'adhoc' } });
    const redirectUri = 'http://127.0.0.1:9/callback';
    const app = await created(rig.server, `/api/v1/organizations/${home.metadata.id}/applications`, {
      metadata: { name: 'console' },
      spec: { redirectURIs: [redirectUri], groupIDs: [], grantTypes: ['authorization_code'], public: true, platform: true, onboardingURI: ONBOARDING },
    });
    client = { clientId: app.metadata.id, redirectUri };
  });
  after(async () => {
    await rig?.close();
  });

  /** Through the platform provider's button to our callback, as an upstream account we have never seen. */
  async function unknownLogin(email: string, verified = true) {
    const sub = `upstream-new-${++n}`;
    rig.upstream.accounts.set(sub, { email, email_verified: verified });
    const start = await beginAuthorization(rig.server, client);
    const identifier = await postIdentifier(rig.server, start.request, { provider: rig.platformProviderId });
    assert.equal(identifier.response.status, 302, identifier.text);
    const back = await upstreamLogin(rig.upstream, identifier.location!, sub);
    const answer = await callback(back, identifier.cookie);
    assert.equal(answer.status, 302, await answer.text());
    return { start, sub, location: new URL(answer.headers.get('location')!) };
  }

  const onboard = (fields: Record<string, string | string[]>) => {
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(fields)) for (const v of [value].flat()) form.append(name, v);
    return fetch(new URL('/oauth2/v2/onboard', rig.server.baseUrl), { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  };

  test('the hand-off carries a sealed state and the email; onboarding makes the organization, group and linked user, and returns a code', async () => {
    const { start, sub, location } = await unknownLogin('Zoe@Newco.example');
    assert.equal(location.origin + location.pathname, ONBOARDING);
    assert.equal(location.searchParams.get('email'), 'Zoe@Newco.example');
    const state = location.searchParams.get('state')!;
    assert.ok(state && !state.includes('Zoe'), 'the state is sealed');

    const name = `newco-${Date.now()}`;
    const answer = await onboard({ state, organization_name: name, organization_description: 'New company', group_name: 'founders', roles: ['administrator', 'platform-administrator'] });
    assert.equal(answer.status, 302, await answer.text());
    const back = new URL(answer.headers.get('location')!);
    assert.equal(back.origin + back.pathname, client.redirectUri);
    assert.equal(back.searchParams.get('state'), start.state);
    const code = back.searchParams.get('code');
    assert.ok(code, back.href);
    const claims = await redeem(rig.server, client, code, start.verifier, start.nonce);

    const organizations = (await (await rig.server.api('/api/v1/organizations')).json()) as any[];
    const organization = organizations.find((o) => o.metadata.name === name);
    assert.ok(organization, 'the organization exists');
    assert.equal(organization.spec.organizationType, 'adhoc');
    const user = (await (await rig.server.api(`/api/v1/organizations/${organization.metadata.id}/users/${claims.sub}`)).json()) as any;
    assert.equal(user.spec.subject, 'Zoe@Newco.example');
    assert.equal(user.spec.state, 'active');
    assert.equal(user.status.identities[0].subject, sub);
    const groups = (await (await rig.server.api(`/api/v1/organizations/${organization.metadata.id}/groups`)).json()) as any[];
    assert.equal(groups.length, 1);
    assert.equal(groups[0].metadata.name, 'founders');
    // A role only the platform may grant was dropped.
    assert.deepEqual(groups[0].spec.roleIDs, ['administrator']);
    assert.deepEqual(groups[0].spec.userIDs, [claims.sub]);

    // The state is single-use.
    const again = await onboard({ state, organization_name: `${name}-2`, group_name: 'founders' });
    assert.equal(again.status, 400);
    assert.match(await again.text(), /already completed/);
  });

  test('20 concurrent onboardings with one state make one organization', async () => {
    const { location } = await unknownLogin('yan@racer.example');
    const state = location.searchParams.get('state')!;
    const name = `racer-${Date.now()}`;
    const answers = await Promise.all(Array.from({ length: 20 }, () => onboard({ state, organization_name: name, group_name: 'team' })));
    const statuses = answers.map((response) => response.status);
    assert.equal(statuses.filter((status) => status === 302).length, 1, JSON.stringify(statuses));
    const organizations = (await (await rig.server.api('/api/v1/organizations')).json()) as any[];
    assert.equal(organizations.filter((o) => o.metadata.name === name).length, 1);
  });

  test('a forged state, a bad name and a taken name are refused; a taken name before the state is spent', async () => {
    assert.equal((await onboard({ state: 'forged', organization_name: 'x1', group_name: 'g' })).status, 400);
    const { location } = await unknownLogin('xena@taken.example');
    const state = location.searchParams.get('state')!;
    assert.equal((await onboard({ state, organization_name: '-bad name-', group_name: 'g' })).status, 400);
    const taken = `taken-${Date.now()}`;
    await created(rig.server, '/api/v1/organizations', { metadata: { name: taken }, spec: { organizationType: 'adhoc' } });
    const conflict = await onboard({ state, organization_name: taken, group_name: 'g' });
    assert.equal(conflict.status, 409);
    // The state was not spent: another name works.
    assert.equal((await onboard({ state, organization_name: `${taken}-b`, group_name: 'g' })).status, 302);
  });

  test('an upstream email that is not verified is not onboarded: access_denied', async () => {
    const { location } = await unknownLogin('unverified@nowhere.example', false);
    assert.equal(location.origin + location.pathname, client.redirectUri);
    assert.equal(location.searchParams.get('error'), 'access_denied');
  });
});
