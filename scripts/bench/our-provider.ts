/**
 * Our side of the token benchmark: an organization with users who have
 * passwords and one confidential application, made through the admin API as
 * test/support/oidc.ts does, and logins through the real login form.
 */
import { mapWithConcurrency } from './load.js';
import { basicAuth, codeFrom, pkcePair, randomText, type TokenAnswer, tokenRequest } from './oauth.js';
import { type BenchService, created } from './service.js';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const SCOPES = 'openid email profile offline_access';
/** libuv's thread pool has four threads by default. */
export const SETUP_CONCURRENCY = 4;

export interface OurUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly password: string;
}

export interface OurTenant {
  readonly tokenPath: string;
  readonly userinfoPath: string;
  readonly introspectionPath: string;
  readonly clientAuthorization: string;
  readonly users: readonly OurUser[];
  /** A login through the login form and a code exchange. */
  login(user: OurUser): Promise<TokenAnswer>;
}

const hiddenField = (html: string, name: string): string | undefined =>
  new RegExp(`name="${name}" value="([^"]*)"`)
    .exec(html)?.[1]
    ?.replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

export async function setUpTenant(bench: BenchService, userCount: number): Promise<OurTenant> {
  const org = await created(bench, '/api/v1/organizations', { metadata: { name: 'bench-tokens' }, spec: { organizationType: 'adhoc' } });
  const organizationId = org.metadata.id as string;
  // Passwords are hashed with scrypt at a high cost: a few at a time use the thread pool.
  const users = await mapWithConcurrency(
    Array.from({ length: userCount }, (_, i) => i),
    SETUP_CONCURRENCY,
    async (i): Promise<OurUser> => {
      const email = `user.${i}@bench.example.com`;
      const password = randomText();
      const user = await created(bench, `/api/v1/organizations/${organizationId}/users`, {
        metadata: { name: `user-${i}` },
        spec: { subject: email, state: 'active', groupIDs: [], password },
      });
      return { id: user.metadata.id, email, name: `user-${i}`, password };
    },
  );
  const app = await created(bench, `/api/v1/organizations/${organizationId}/applications`, {
    metadata: { name: 'bench-client' },
    spec: { redirectURIs: [REDIRECT_URI], groupIDs: [], grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], public: false },
  });
  const clientId = app.metadata.id as string;
  const clientAuthorization = basicAuth(clientId, app.status.clientSecret as string);
  const base = bench.baseUrl;

  return {
    tokenPath: '/oauth2/v2/token',
    userinfoPath: '/oauth2/v2/userinfo',
    introspectionPath: '/oauth2/v2/introspect',
    clientAuthorization,
    users,
    async login(user) {
      const { verifier, challenge } = pkcePair();
      const state = randomText();
      const authorization = new URL(`${base}/oauth2/v2/authorization`);
      for (const [name, value] of Object.entries({
        client_id: clientId,
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: SCOPES,
        state,
        nonce: randomText(),
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })) {
        authorization.searchParams.set(name, value);
      }
      const page = await fetch(authorization, { redirect: 'manual' });
      const html = await page.text();
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
      const formState = hiddenField(html, 'state');
      if (page.status !== 200 || !action || !formState) throw new Error(`the login form: ${page.status} ${html.slice(0, 500)}`);
      const submitted = await fetch(new URL(action, authorization), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ state: formState, email: user.email, password: user.password }),
      });
      const location = submitted.headers.get('location');
      if (submitted.status !== 302 || !location) throw new Error(`login of ${user.email}: ${submitted.status} ${(await submitted.text()).slice(0, 500)}`);
      return tokenRequest(`${base}/oauth2/v2/token`, clientAuthorization, {
        grant_type: 'authorization_code',
        code: codeFrom(new URL(location), state),
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      });
    },
  };
}
