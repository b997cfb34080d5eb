import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { createTenant, type Tenant } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

// A system Chromium when there is one, else the one @sparticuz/chromium ships (test/support/browser.ts).
// SKIP_BROWSER_TESTS=1 is an explicit opt-out, printed as the reason.
const skip = process.env.SKIP_BROWSER_TESTS === '1' ? 'SKIP_BROWSER_TESTS=1' : false;

const randomText = () => randomBytes(32).toString('base64url');

/** The client's side: a redirect URI served by the test, recording what comes back. */
async function startCallbackServer(): Promise<{ server: Server; redirectUri: string; received: URLSearchParams[] }> {
  const received: URLSearchParams[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/callback') received.push(url.searchParams);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Callback</title><p>Signed in, back at the application.</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, redirectUri: `http://127.0.0.1:${port}/callback`, received };
}

describe('OIDC login in a real browser (Chromium)', { skip }, () => {
  let server: TestServer;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let tenant: Tenant;
  let browser: Browser | undefined;
  // Screenshots go to SCREENSHOT_DIR when set (to look at them), else to a folder removed afterwards.
  const screenshots = process.env.SCREENSHOT_DIR ? undefined : tempDir('login-screenshots-');
  const screenshotDir = process.env.SCREENSHOT_DIR ?? screenshots!.path;

  before(async () => {
    server = await startTestServer();
    callback = await startCallbackServer();
    tenant = await createTenant(server, { redirectUri: callback.redirectUri });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    if (callback) await new Promise((resolve) => callback.server.close(resolve));
    await server?.close();
    screenshots?.remove();
  });

  test('from the authorization request, through a wrong and a right password, to the code at the redirect URI', { timeout: 90_000 }, async () => {
    const verifier = randomText();
    const state = randomText();
    const nonce = randomText();
    const authorization = new URL('/oauth2/v2/authorization', server.baseUrl);
    authorization.search = new URLSearchParams({
      response_type: 'code',
      client_id: tenant.publicClientId,
      redirect_uri: tenant.redirectUri,
      scope: 'openid email profile',
      state,
      nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();

    const page = await browser!.newPage({ viewport: { width: 800, height: 600 } });
    await page.goto(authorization.href);
    assert.equal(await page.title(), 'Sign in');
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.equal(await page.getByRole('heading', { level: 1 }).count(), 1);
    // Found by their labels: the fields are labelled for assistive technology.
    const email = page.getByLabel('Email');
    const password = page.getByLabel('Password');
    assert.equal(await email.getAttribute('autocomplete'), 'username');
    assert.equal(await password.getAttribute('type'), 'password');
    await page.screenshot({ path: join(screenshotDir, 'login.png'), fullPage: true });
    assert.equal(readFileSync(join(screenshotDir, 'login.png')).subarray(1, 4).toString(), 'PNG');

    await email.fill(tenant.email);
    await password.fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.equal((await alert.textContent())?.trim(), 'The email or password is not right.');
    assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByLabel('Email').inputValue(), tenant.email, 'the email is kept');
    assert.equal(callback.received.length, 0);
    await page.screenshot({ path: join(screenshotDir, 'login-error.png'), fullPage: true });

    // The right password, submitted from the keyboard.
    await page.getByLabel('Password').fill(tenant.password);
    await page.getByLabel('Password').press('Enter');
    await page.waitForURL((url) => url.href.startsWith(tenant.redirectUri));
    assert.equal(await page.locator('p').textContent(), 'Signed in, back at the application.');

    assert.equal(callback.received.length, 1);
    const answer = callback.received[0]!;
    const code = answer.get('code');
    assert.ok(code, `a code at the redirect URI: ${answer}`);
    assert.equal(answer.get('state'), state);
    assert.equal(answer.get('iss'), server.baseUrl);
    await page.close();

    const response = await fetch(new URL('/oauth2/v2/token', server.baseUrl), {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: tenant.redirectUri, client_id: tenant.publicClientId, code_verifier: verifier }),
    });
    const tokens = (await response.json()) as { id_token?: string; access_token?: string };
    assert.equal(response.status, 200, JSON.stringify(tokens));
    assert.ok(tokens.access_token);
    assert.ok(tokens.id_token, 'an ID token');
    const { payload } = await jwtVerify(tokens.id_token, createRemoteJWKSet(new URL('/oauth2/v2/jwks', server.baseUrl)), {
      issuer: server.baseUrl,
      audience: tenant.publicClientId,
    });
    assert.equal(payload.sub, tenant.userId);
    assert.equal(payload.nonce, nonce);
    assert.equal(payload.email, tenant.email);
  });
});
