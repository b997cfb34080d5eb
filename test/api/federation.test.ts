import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { beginAuthorization, callback, domainOrganization, type FederationRig, postIdentifier, redeem, startFederationRig } from '../support/federation.js';
import { upstreamLogin } from '../support/upstream.js';

/**
 * Federated login over HTTP, with a real upstream OpenID provider
 * (oidc-provider over TLS): provider choice, the round trip, identity linking.
 */
describe('federated login', () => {
  let rig: FederationRig;
  before(async () => {
    rig = await startFederationRig();
  });
  after(async () => {
    await rig?.close();
  });

  /** From the client's request to a code: email → upstream → callback. */
  async function federatedLogin(org: Awaited<ReturnType<typeof domainOrganization>>, sub: string, email = org.email) {
    const start = await beginAuthorization(rig.server, org);
    const identifier = await postIdentifier(rig.server, start.request, { email });
    assert.equal(identifier.response.status, 302, identifier.text);
    assert.ok(identifier.location!.startsWith(`${rig.upstream.issuer}/auth?`), identifier.location);
    const back = await upstreamLogin(rig.upstream, identifier.location!, sub);
    const answer = await callback(back, identifier.cookie);
    return { start, identifier, back, answer };
  }

  test('an email of a domain organization goes to its provider; the first login links by verified email; tokens verify against our JWKS', async () => {
    const org = await domainOrganization(rig);
    rig.upstream.accounts.set('upstream-bob-1', { email: org.email.toUpperCase(), email_verified: true });
    const { start, identifier, answer } = await federatedLogin(org, 'upstream-bob-1');
    // PKCE S256, a nonce and the login hint went upstream; the binding cookie is HttpOnly, SameSite=Lax, on the callback path.
    const upstreamRequest = new URL(identifier.location!).searchParams;
    assert.equal(upstreamRequest.get('code_challenge_method'), 'S256');
    assert.ok(upstreamRequest.get('nonce'));
    assert.equal(upstreamRequest.get('login_hint'), org.email);
    const setCookie = identifier.response.headers.getSetCookie()[0]!;
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Lax/);
    assert.match(setCookie, /Path=\/oidc\/callback/);

    assert.equal(answer.status, 302, await answer.text());
    const location = new URL(answer.headers.get('location')!);
    assert.equal(location.origin + location.pathname, org.redirectUri);
    assert.equal(location.searchParams.get('state'), start.state);
    assert.equal(location.searchParams.get('iss'), rig.server.baseUrl);
    const code = location.searchParams.get('code');
    assert.ok(code, location.href);
    const claims = await redeem(rig.server, org, code, start.verifier, start.nonce);
    assert.equal(claims.sub, org.userId);

    const user = (await (await rig.server.api(`/api/v1/organizations/${org.organizationId}/users/${org.userId}`)).json()) as any;
    assert.equal(user.status.identities.length, 1);
    assert.equal(user.status.identities[0].issuer, rig.upstream.issuer);
    assert.equal(user.status.identities[0].subject, 'upstream-bob-1');
    assert.equal(user.status.identities[0].providerID, org.providerID);
  });
});
