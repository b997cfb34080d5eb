import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { hiddenField, pkcePair } from './oidc.js';
import { createCa, issue, type Ca, type Issued } from './pki.js';
import { ADMIN_TOKEN } from './server.js';

/** An answer read in full. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json(): any;
}

/**
 * One HTTPS request on a fresh connection (no TLS session reuse), trusting the
 * test's server CA, presenting `cert` (a client certificate) or none.
 */
export function tlsFetch(
  url: string,
  options: { serverCa: Ca; cert?: Issued; method?: string; headers?: Record<string, string>; body?: string } ,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        ca: options.serverCa.cert,
        ...(options.cert && { cert: options.cert.cert, key: options.cert.key }),
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The PKI of a test: the server's CA and certificate, and the CA client certificates chain to, written to files. */
export interface TestPki {
  readonly serverCa: Ca;
  readonly clientCa: Ca;
  readonly files: { readonly cert: string; readonly key: string; readonly clientCa: string };
}

export async function createPki(dir: string): Promise<TestPki> {
  const serverCa = await createCa('CN=Test Server CA');
  const clientCa = await createCa('CN=Test Client CA, O=Identity Tests');
  const server = await issue(serverCa, { subject: 'CN=127.0.0.1', san: { ip: ['127.0.0.1'], dns: ['localhost'] } });
  const files = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), clientCa: join(dir, 'client-ca.pem') };
  writeFileSync(files.cert, server.cert);
  writeFileSync(files.key, server.key, { mode: 0o600 });
  writeFileSync(files.clientCa, clientCa.cert);
  return { serverCa, clientCa, files };
}

/** A client over TLS to one server: the admin API, the token endpoint, and the like. */
export function tlsClient(baseUrl: string, serverCa: Ca) {
  const call = (path: string, options: { cert?: Issued; method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    tlsFetch(baseUrl + path, { serverCa, ...options });
  return {
    call,
    /** The admin API as the platform administrator (or with `token`). */
    api: (path: string, options: { method?: string; json?: unknown; token?: string; cert?: Issued } = {}) =>
      call(path, {
        method: options.method ?? 'GET',
        cert: options.cert,
        headers: { authorization: `Bearer ${options.token ?? ADMIN_TOKEN}`, ...(options.json !== undefined && { 'content-type': 'application/json' }) },
        body: options.json === undefined ? undefined : JSON.stringify(options.json),
      }),
    /** POST a form (the token, introspection and revocation endpoints). */
    form: (path: string, form: Record<string, string>, options: { cert?: Issued; headers?: Record<string, string> } = {}) =>
      call(path, {
        method: 'POST',
        cert: options.cert,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
        body: new URLSearchParams(form).toString(),
      }),
  };
}
export type TlsClient = ReturnType<typeof tlsClient>;

/** The claims of a JWT, unverified (the test reads what the service put in). */
export const jwtClaims = (token: string): Record<string, any> => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));

/** Sign a user in over TLS through the login form, and answer the code and PKCE verifier. */
export async function authorizeOverTls(
  client: TlsClient,
  options: { clientId: string; redirectUri: string; email: string; password: string; scope?: string },
): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkcePair();
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    scope: options.scope ?? 'openid email offline_access',
    state: 'state-1',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const page = await client.call(`/oauth2/v2/authorization?${query}`);
  assert.equal(page.status, 200, page.text);
  const action = /<form method="post" action="([^"]+)"/.exec(page.text)?.[1];
  const state = hiddenField(page.text, 'state');
  assert.ok(action && state);
  const path = new URL(action.replace(/&amp;/g, '&'), 'https://placeholder').pathname;
  const posted = await client.call(path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ state, email: options.email, password: options.password }).toString(),
  });
  assert.equal(posted.status, 302, posted.text);
  const code = new URL(String(posted.headers.location)).searchParams.get('code');
  assert.ok(code);
  return { code, verifier };
}
