import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { decodeJwt, importJWK, SignJWT } from 'jose';
import { createCa, issue } from './pki.js';

/**
 * A real upstream OpenID provider for federation tests: `oidc-provider` (v9)
 * over TLS on 127.0.0.1 and an ephemeral port, its certificate issued by a CA
 * the test made (`caFile`, for IDENTITY_PROVIDER_CA_FILE). One client is
 * registered for the service under test; the accounts are the test's to
 * change (email, email_verified) at any time. Its login page is a form with
 * the account and two buttons: Continue (signs in) and Cancel (access_denied).
 */
export interface UpstreamAccount {
  email: string;
  email_verified: boolean;
  name?: string;
}

export interface Upstream {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** PEM file of the CA that issued the upstream's certificate. */
  readonly caFile: string;
  readonly caPem: string;
  /** By upstream subject. */
  readonly accounts: Map<string, UpstreamAccount>;
  /** Set: every ID token the token endpoint answers is re-signed (same key) with these changes. */
  tamperIdToken?: (claims: Record<string, unknown>) => Record<string, unknown>;
  /** The authorization requests it received (their query parameters). */
  readonly authorizationRequests: URLSearchParams[];
  close(): Promise<void>;
}

interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ uid: string; params: Record<string, unknown> }>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: object, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
  readonly Grant: new (properties: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
  on(event: string, listener: (...args: unknown[]) => void): void;
}
const MODULE_NAME = 'oidc-provider';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export async function startUpstream(options: { redirectUris: string[]; dir: string; accounts?: Record<string, UpstreamAccount> }): Promise<Upstream> {
  const { default: Provider } = (await import(MODULE_NAME)) as { default: new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance };
  const ca = await createCa('CN=Upstream Test CA, O=Identity Tests');
  const serverCert = await issue(ca, { subject: 'CN=127.0.0.1', san: { ip: ['127.0.0.1'], dns: ['localhost'] } });
  const caFile = join(options.dir, `upstream-ca-${randomBytes(4).toString('hex')}.pem`);
  writeFileSync(caFile, ca.cert);
  const server: Server = createServer({ cert: serverCert.cert, key: serverCert.key });
  const port: number = await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
  const issuer = `https://127.0.0.1:${port}`;
  const clientId = 'identity-service';
  const clientSecret = randomBytes(24).toString('base64url');
  const signingKey = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: `upstream-${randomBytes(3).toString('hex')}`, alg: 'ES256', use: 'sig' };
  const accounts = new Map<string, UpstreamAccount>(Object.entries(options.accounts ?? {}));
  const authorizationRequests: URLSearchParams[] = [];

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: options.redirectUris,
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'email', 'profile'],
    // Put the claims in the ID token itself (a relying party need not call userinfo).
    conformIdTokenClaims: false,
    async findAccount(_ctx: unknown, sub: string) {
      const account = accounts.get(sub);
      return account && { accountId: sub, claims: async () => ({ sub, email: account.email, email_verified: account.email_verified, name: account.name ?? sub }) };
    },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: async (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
  });
  provider.on('server_error', (_ctx: unknown, error: unknown) => console.error('upstream server_error:', error));

  const loginPage = (uid: string, hint: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Upstream sign-in</title></head><body>
<h1>Upstream identity provider</h1>
<form method="post" action="/interaction/${uid}/login">
<label for="account">Upstream account</label>
<input id="account" name="account" value="${escapeHtml(hint)}">
<button type="submit" name="action" value="continue">Continue</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form></body></html>`;

  const interaction = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        const hint = String(details.params.login_hint ?? '');
        const sub = [...accounts].find(([, a]) => a.email.toLowerCase() === hint.toLowerCase())?.[0] ?? hint;
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(loginPage(details.uid, sub));
        return;
      }
      const form = await readForm(req);
      if (form.get('action') === 'cancel') {
        await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user cancelled' }, { mergeWithLastSubmission: false });
        return;
      }
      const sub = form.get('account') ?? '';
      if (!accounts.has(sub)) {
        res.statusCode = 400;
        res.end('unknown account');
        return;
      }
      const grant = new provider.Grant({ accountId: sub, clientId: String(details.params.client_id) });
      grant.addOIDCScope('openid email profile');
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
    } catch (error) {
      res.statusCode = 500;
      res.end(String(error));
    }
  };

  const upstream: Upstream = {
    issuer,
    clientId,
    clientSecret,
    caFile,
    caPem: ca.cert,
    accounts,
    authorizationRequests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };

  /** The token endpoint's answer, with its ID token re-signed as the test asked. */
  const tamper = (res: ServerResponse) => {
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    const chunks: Buffer[] = [];
    res.write = ((chunk: unknown) => {
      if (chunk) chunks.push(Buffer.from(chunk as Buffer));
      return true;
    }) as typeof res.write;
    res.end = ((chunk?: unknown) => {
      if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as Buffer));
      void (async () => {
        let body = Buffer.concat(chunks);
        try {
          const json = JSON.parse(body.toString('utf8')) as { id_token?: string };
          if (json.id_token && upstream.tamperIdToken) {
            const claims = upstream.tamperIdToken(decodeJwt(json.id_token) as Record<string, unknown>);
            json.id_token = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: signingKey.kid }).sign(await importJWK(signingKey, 'ES256'));
            body = Buffer.from(JSON.stringify(json));
            res.setHeader('content-length', body.length);
          }
        } catch {
          // not JSON: as it was
        }
        write(body);
        end();
      })();
      return res;
    }) as typeof res.end;
  };

  const handle = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname.startsWith('/interaction/')) return void interaction(req, res);
    if (url.pathname === '/auth') authorizationRequests.push(url.searchParams);
    if (url.pathname === '/token' && upstream.tamperIdToken) tamper(res);
    handle(req, res);
  });
  return upstream;
}

/** A request to the upstream from the test (it trusts the upstream's CA); no redirects followed. */
export function upstreamRequest(
  upstream: Upstream,
  url: string,
  init: { method?: string; body?: string; cookie?: string } = {},
): Promise<{ status: number; location?: string; setCookies: string[]; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: init.method ?? 'GET',
        ca: upstream.caPem,
        headers: {
          ...(init.cookie && { cookie: init.cookie }),
          ...(init.body !== undefined && { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(init.body)) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            ...(res.headers.location !== undefined && { location: new URL(res.headers.location, url).href }),
            setCookies: res.headers['set-cookie'] ?? [],
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

/**
 * Sign in at the upstream as a browser would (its cookies kept), from its
 * authorization URL to the redirect back to us; answers that callback URL.
 * `action: 'cancel'` presses Cancel instead.
 */
export async function upstreamLogin(upstream: Upstream, authorizationUrl: string, sub: string, action: 'continue' | 'cancel' = 'continue'): Promise<string> {
  const cookies = new Map<string, string>();
  const keep = (lines: string[]) => {
    for (const line of lines) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      if (at > 0) cookies.set(pair!.slice(0, at).trim(), pair!.slice(at + 1).trim());
    }
  };
  const cookie = () => [...cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  let next = authorizationUrl;
  let posted = false;
  for (let hop = 0; hop < 10; hop++) {
    if (!next.startsWith(upstream.issuer)) return next;
    const page = await upstreamRequest(upstream, next, { cookie: cookie() });
    keep(page.setCookies);
    if (page.location) {
      next = page.location;
      continue;
    }
    if (posted || !page.text.includes('<form')) throw new Error(`upstream answered ${page.status}: ${page.text.slice(0, 300)}`);
    const formAction = /action="([^"]+)"/.exec(page.text)![1]!;
    const answer = await upstreamRequest(upstream, new URL(formAction, upstream.issuer).href, {
      method: 'POST',
      body: new URLSearchParams({ account: sub, action }).toString(),
      cookie: cookie(),
    });
    posted = true;
    keep(answer.setCookies);
    if (!answer.location) throw new Error(`upstream login answered ${answer.status}: ${answer.text.slice(0, 300)}`);
    next = answer.location;
  }
  throw new Error('too many redirects at the upstream');
}
