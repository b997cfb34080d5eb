import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import type { Browser, BrowserContext } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { domainOrganization, type FederationRig, startFederationRig } from '../support/federation.js';

const skip = process.env.SKIP_BROWSER_TESTS === '1' ? 'SKIP_BROWSER_TESTS=1' : false;

/** The application's side: a redirect URI served by the test, recording what comes back. */
async function startApplication(): Promise<{ server: Server; redirectUri: string; received: URL[] }> {
  const received: URL[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    if (url.pathname === '/callback') received.push(url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Application</title><p>Back at the application.</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, redirectUri: `http://127.0.0.1:${port}/callback`, received };
}

describe('federated login in a real browser (Chromium)', { skip }, () => {
  let rig: FederationRig;
  let app: Awaited<ReturnType<typeof startApplication>>;
  let browser: Browser | undefined;
  // One context for the file: the packaged Chromium runs single-process, where closing a context ends the browser.
  let context: BrowserContext;

  before(async () => {
    rig = await startFederationRig();
    app = await startApplication();
    browser = await launchChromium();
    // The upstream's certificate is issued by the test's own CA.
    context = await browser.newContext({ ignoreHTTPSErrors: true });
  });
  after(async () => {
    await browser?.close();
    if (app) await new Promise((resolve) => app.server.close(resolve));
    await rig?.close();
  });

  test('client (openid-client) → our authorization endpoint → email → the upstream login page → our callback → code → tokens verified against our JWKS', { timeout: 120_000 }, async () => {
    const org = await domainOrganization(rig, { redirectUri: app.redirectUri });
    rig.upstream.accounts.set('browser-bob', { email: org.email, email_verified: true, name: 'Bob' });

    // The application is an openid-client relying party of ours.
    const config = await client.discovery(new URL(rig.server.baseUrl), org.clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const authorizationUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: app.redirectUri,
      scope: 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });

    await context.clearCookies();
    const page = await context.newPage();
    await page.goto(authorizationUrl.href);
    assert.equal(await page.title(), 'Sign in');
    // Identifier first: the email only; its domain sends the browser to the organization's provider.
    await page.getByLabel('Email').fill(org.email);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((url) => url.href.startsWith(rig.upstream.issuer));
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Upstream identity provider');
    assert.equal(await page.getByLabel('Upstream account').inputValue(), 'browser-bob', 'login_hint went upstream');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.href.startsWith(app.redirectUri));
    assert.equal(await page.locator('p').textContent(), 'Back at the application.');
    await page.close();

    assert.equal(app.received.length, 1);
    const tokens = await client.authorizationCodeGrant(config, app.received[0]!, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    const jwks = createRemoteJWKSet(new URL('/oauth2/v2/jwks', rig.server.baseUrl));
    const { payload } = await jwtVerify(tokens.id_token!, jwks, { issuer: rig.server.baseUrl, audience: org.clientId });
    assert.equal(payload.sub, org.userId);
    assert.equal(payload.nonce, nonce);
  });

  test('a platform provider button, in the browser', { timeout: 120_000 }, async () => {
    const org = await domainOrganization(rig, { redirectUri: app.redirectUri });
    rig.upstream.accounts.set('browser-carol', { email: org.email, email_verified: true });
    const before = app.received.length;
    // A new visitor: no upstream session from the test before.
    await context.clearCookies();
    const page = await context.newPage();
    const url = new URL('/oauth2/v2/authorization', rig.server.baseUrl);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: org.clientId,
      redirect_uri: app.redirectUri,
      scope: 'openid',
      state: 's-1',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }).toString();
    await page.goto(url.href);
    await page.getByRole('button', { name: 'Sign in with upstream' }).click();
    await page.waitForURL((u) => u.href.startsWith(rig.upstream.issuer));
    await page.getByLabel('Upstream account').fill('browser-carol');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((u) => u.href.startsWith(app.redirectUri));
    await page.close();
    assert.equal(app.received.length, before + 1);
    assert.ok(app.received.at(-1)!.searchParams.get('code'));
  });
});
