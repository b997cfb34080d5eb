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

  /** The OAuth error the client got back. */
  const clientError = (answer: Response) => {
    assert.equal(answer.status, 302);
    const location = new URL(answer.headers.get('location')!);
    assert.equal(location.searchParams.get('code'), null);
    return { error: location.searchParams.get('error'), description: location.searchParams.get('error_description'), state: location.searchParams.get('state') };
  };

  test('a linked identity signs in as its user after its upstream email changes', async () => {
    const org = await domainOrganization(rig);
    rig.upstream.accounts.set('upstream-carol', { email: org.email, email_verified: true });
    const first = await federatedLogin(org, 'upstream-carol');
    assert.equal(first.answer.status, 302);
    assert.ok(new URL(first.answer.headers.get('location')!).searchParams.get('code'));
    // The upstream now says another (even unverified) email: the pair still names the same user.
    rig.upstream.accounts.set('upstream-carol', { email: `someone.else@${org.domain}`, email_verified: false });
    const second = await federatedLogin(org, 'upstream-carol');
    const code = new URL(second.answer.headers.get('location')!).searchParams.get('code');
    assert.ok(code, second.answer.headers.get('location')!);
    const claims = await redeem(rig.server, org, code, second.start.verifier, second.start.nonce);
    assert.equal(claims.sub, org.userId);
    const user = (await (await rig.server.api(`/api/v1/organizations/${org.organizationId}/users/${org.userId}`)).json()) as any;
    assert.equal(user.status.identities.length, 1, 'linked once');
  });

  test('an unverified upstream email does not link: no account, access_denied to the client', async () => {
    const org = await domainOrganization(rig);
    rig.upstream.accounts.set('upstream-mallory', { email: org.email, email_verified: false });
    const { start, answer } = await federatedLogin(org, 'upstream-mallory');
    assert.deepEqual(clientError(answer), { error: 'access_denied', description: 'no account', state: start.state });
    const user = (await (await rig.server.api(`/api/v1/organizations/${org.organizationId}/users/${org.userId}`)).json()) as any;
    assert.equal(user.status.identities, undefined, 'nothing linked');
  });

  test('an email no organization routes gets the password step, the email kept', async () => {
    const org = await domainOrganization(rig);
    const start = await beginAuthorization(rig.server, org);
    const answer = await postIdentifier(rig.server, start.request, { email: 'someone@unrouted.example' });
    assert.equal(answer.response.status, 200);
    assert.match(answer.text, /Enter your password/);
    assert.match(answer.text, /value="someone@unrouted\.example"/);
  });

  test('a replayed, a forged or a cookie-less callback is refused with an error page', async () => {
    const org = await domainOrganization(rig);
    rig.upstream.accounts.set('upstream-dave', { email: org.email, email_verified: true });
    const start = await beginAuthorization(rig.server, org);
    const identifier = await postIdentifier(rig.server, start.request, { email: org.email });
    const back = await upstreamLogin(rig.upstream, identifier.location!, 'upstream-dave');

    // Without the browser's binding cookie (another browser, a state injected by an attacker).
    const noCookie = await callback(back, undefined);
    assert.equal(noCookie.status, 400);
    assert.match(await noCookie.text(), /another browser/);
    const otherCookie = await callback(back, identifier.cookie.replace(/=.*/, '=not-the-cookie'));
    assert.equal(otherCookie.status, 400);

    // A forged state: one character changed in the sealed state.
    const forgedUrl = new URL(back);
    const sealed = forgedUrl.searchParams.get('state')!;
    const at = Math.floor(sealed.length / 2);
    forgedUrl.searchParams.set('state', sealed.slice(0, at) + (sealed[at] === 'A' ? 'B' : 'A') + sealed.slice(at + 1));
    const forged = await callback(forgedUrl.href, identifier.cookie);
    assert.equal(forged.status, 400);
    assert.match(await forged.text(), /expired or is not valid/);

    // The genuine one works once...
    const first = await callback(back, identifier.cookie);
    assert.equal(first.status, 302);
    assert.ok(new URL(first.headers.get('location')!).searchParams.get('code'));
    // ...and only once.
    const replay = await callback(back, identifier.cookie);
    assert.equal(replay.status, 400);
    assert.match(await replay.text(), /already completed/);
  });

  test('20 concurrent callbacks with one state give exactly one code', async () => {
    const org = await domainOrganization(rig);
    rig.upstream.accounts.set('upstream-erin', { email: org.email, email_verified: true });
    const start = await beginAuthorization(rig.server, org);
    const identifier = await postIdentifier(rig.server, start.request, { email: org.email });
    const back = await upstreamLogin(rig.upstream, identifier.location!, 'upstream-erin');
    const answers = await Promise.all(Array.from({ length: 20 }, () => callback(back, identifier.cookie)));
    const codes = answers.filter((a) => a.status === 302 && new URL(a.headers.get('location')!).searchParams.get('code'));
    assert.equal(codes.length, 1, answers.map((a) => a.status).join(','));
    assert.ok(answers.every((a) => a.status === 302 || a.status === 400), answers.map((a) => a.status).join(','));
    await Promise.all(answers.map((a) => a.body?.cancel()));
  });

  test('a wrong nonce or a token for another audience: access_denied', async () => {
    const org = await domainOrganization(rig);
    rig.upstream.accounts.set('upstream-frank', { email: org.email, email_verified: true });
    try {
      rig.upstream.tamperIdToken = (claims) => ({ ...claims, nonce: 'not-the-nonce' });
      const wrongNonce = await federatedLogin(org, 'upstream-frank');
      assert.equal(clientError(wrongNonce.answer).error, 'access_denied');
      assert.ok(rig.server.logs.some((line) => line.includes('federated login failed upstream') && /nonce/i.test(line)), 'refused for its nonce');
      rig.upstream.tamperIdToken = (claims) => ({ ...claims, aud: 'some-other-client' });
      const otherAudience = await federatedLogin(org, 'upstream-frank');
      assert.equal(clientError(otherAudience.answer).error, 'access_denied');
      assert.ok(rig.server.logs.some((line) => line.includes('federated login failed upstream') && /aud/i.test(line)), 'refused for its audience');
    } finally {
      delete rig.upstream.tamperIdToken;
    }
    const user = (await (await rig.server.api(`/api/v1/organizations/${org.organizationId}/users/${org.userId}`)).json()) as any;
    assert.equal(user.status.identities, undefined, 'nothing linked by a token that did not check out');
  });

  test('the upstream answers an error (the user cancelled): access_denied to the client', async () => {
    const org = await domainOrganization(rig);
    rig.upstream.accounts.set('upstream-gina', { email: org.email, email_verified: true });
    const start = await beginAuthorization(rig.server, org);
    const identifier = await postIdentifier(rig.server, start.request, { email: org.email });
    const back = await upstreamLogin(rig.upstream, identifier.location!, 'upstream-gina', 'cancel');
    assert.equal(new URL(back).searchParams.get('error'), 'access_denied');
    const answer = await callback(back, identifier.cookie);
    const { error, state } = clientError(answer);
    assert.equal(error, 'access_denied');
    assert.equal(state, start.state);
  });

  test('a platform provider button: the client organization account, linked by verified email', async () => {
    const org = await domainOrganization(rig);
    rig.upstream.accounts.set('upstream-hank', { email: org.email, email_verified: true });
    const start = await beginAuthorization(rig.server, org);
    assert.match(start.html, new RegExp(`name="provider" value="${rig.platformProviderId}"`), 'the button is on the page');
    const identifier = await postIdentifier(rig.server, start.request, { provider: rig.platformProviderId });
    assert.equal(identifier.response.status, 302, identifier.text);
    const back = await upstreamLogin(rig.upstream, identifier.location!, 'upstream-hank');
    const answer = await callback(back, identifier.cookie);
    const code = new URL(answer.headers.get('location')!).searchParams.get('code');
    assert.ok(code, answer.headers.get('location')!);
    assert.equal((await redeem(rig.server, org, code, start.verifier, start.nonce)).sub, org.userId);
    const user = (await (await rig.server.api(`/api/v1/organizations/${org.organizationId}/users/${org.userId}`)).json()) as any;
    assert.equal(user.status.identities[0].providerID, rig.platformProviderId);
  });

  test('login events: user.login.succeeded for a federated login, sampled rejections for refused steps', async () => {
    const events = await rig.server.service.stores.events.readAll();
    const types = new Set((events as { type: string }[]).map((e) => e.type));
    assert.ok(types.has('user.login.succeeded'));
    assert.ok(types.has('login.federation.state.consumed'));
    assert.ok(types.has('login.flow.rejected'));
    const succeeded = (events as { type: string; data: any }[]).find((e) => e.type === 'user.login.succeeded' && e.data.method === 'federated')!;
    assert.equal(succeeded.data.issuer, rig.upstream.issuer);
    // Nothing upstream (tokens, codes) or of the binding cookie in any event.
    const all = JSON.stringify(events.map((e) => e.data));
    assert.ok(!all.includes(rig.upstream.clientSecret), 'no upstream secret in the log');
  });

  test('an administrator unlinks an identity: it then signs in as nobody until a verified email links it again', async () => {
    const org = await domainOrganization(rig);
    rig.upstream.accounts.set('upstream-jack', { email: org.email, email_verified: true });
    assert.equal((await federatedLogin(org, 'upstream-jack')).answer.status, 302);
    const userPath = `/api/v1/organizations/${org.organizationId}/users/${org.userId}`;
    const [identity] = ((await (await rig.server.api(userPath)).json()) as any).status.identities;
    assert.equal((await rig.server.api(`${userPath}/identities/not-an-identity`, { method: 'DELETE' })).status, 404);
    const unlinked = await rig.server.api(`${userPath}/identities/${identity.id}`, { method: 'DELETE' });
    assert.equal(unlinked.status, 200, await unlinked.text());
    assert.equal(((await (await rig.server.api(userPath)).json()) as any).status.identities, undefined);
    // Without a verified email the pair no longer finds anyone.
    rig.upstream.accounts.set('upstream-jack', { email: org.email, email_verified: false });
    assert.equal(clientError((await federatedLogin(org, 'upstream-jack')).answer).error, 'access_denied');
    // With one, it links again.
    rig.upstream.accounts.set('upstream-jack', { email: org.email, email_verified: true });
    const again = await federatedLogin(org, 'upstream-jack');
    assert.ok(new URL(again.answer.headers.get('location')!).searchParams.get('code'));
  });

  test('an application with a loginURI hosts its own chooser: the signed request goes there, and posts back', async () => {
    const org = await domainOrganization(rig);
    const refused = await rig.server.api(`/api/v1/organizations/${org.organizationId}/applications`, {
      method: 'POST',
      json: { metadata: { name: 'chooser-http' }, spec: { redirectURIs: [org.redirectUri], grantTypes: ['authorization_code'], public: true, loginURI: 'http://app.example/choose' } },
    });
    assert.equal(refused.status, 400, await refused.text());
    const app = (await (
      await rig.server.api(`/api/v1/organizations/${org.organizationId}/applications`, {
        method: 'POST',
        json: { metadata: { name: 'chooser' }, spec: { redirectURIs: [org.redirectUri], grantTypes: ['authorization_code'], public: true, loginURI: 'https://app.example/choose' } },
      })
    ).json()) as any;
    assert.equal(app.spec.loginURI, 'https://app.example/choose');
    const url = new URL('/oauth2/v2/authorization', rig.server.baseUrl);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: app.metadata.id,
      redirect_uri: org.redirectUri,
      scope: 'openid',
      state: 'client-state',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      login_hint: org.email,
    }).toString();
    const answer = await fetch(url, { redirect: 'manual' });
    assert.equal(answer.status, 302);
    const chooser = new URL(answer.headers.get('location')!);
    assert.equal(chooser.origin + chooser.pathname, 'https://app.example/choose');
    assert.equal(chooser.searchParams.get('login_hint'), org.email);
    // The application's page posts the person's choice back with that state.
    const posted = await postIdentifier(rig.server, chooser.searchParams.get('state')!, { email: org.email });
    assert.equal(posted.response.status, 302, posted.text);
    assert.ok(posted.location!.startsWith(rig.upstream.issuer));
  });

  test('a stopped upstream: temporarily_unavailable to the client, never a 500', async () => {
    const org = await domainOrganization(rig);
    rig.upstream.accounts.set('upstream-ivy', { email: org.email, email_verified: true });
    const start = await beginAuthorization(rig.server, org);
    const identifier = await postIdentifier(rig.server, start.request, { email: org.email });
    const back = await upstreamLogin(rig.upstream, identifier.location!, 'upstream-ivy');
    await rig.upstream.close();
    const answer = await callback(back, identifier.cookie);
    const { error, state } = clientError(answer);
    assert.equal(error, 'temporarily_unavailable');
    assert.equal(state, start.state);
    // A new sign-in while it is down: the login page says so (503), the user can try again.
    const again = await beginAuthorization(rig.server, org);
    const down = await postIdentifier(rig.server, again.request, { email: org.email });
    assert.equal(down.response.status, 503);
    assert.match(down.text, /cannot be reached/);
  });
});
