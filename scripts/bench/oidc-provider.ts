/**
 * The reference of the token benchmark: `oidc-provider` (panva, v9), in
 * process on its own port, configured like our service as far as it goes:
 *
 * - one confidential client (client_secret_basic) with the authorization_code,
 *   refresh_token and client_credentials grants, PKCE required;
 * - access tokens are ES256-signed JWTs: with oidc-provider v9 that takes a
 *   resource server (features.resourceIndicators, getResourceServerInfo with
 *   accessTokenFormat 'jwt' and jwt.sign.alg 'ES256'); its JWKS holds one EC
 *   P-256 key, which also signs the ID tokens (id_token_signed_response_alg);
 * - refresh tokens rotate on every use (rotateRefreshToken: true);
 * - its default in-memory adapter (an LRU map in the process): nothing it
 *   issues is durable, whereas our service commits every token grant to the
 *   event store before it answers.
 *
 * Its userinfo endpoint only accepts opaque access tokens without a resource
 * server audience (its documented rule), so the userinfo case uses the opaque
 * access token of the authorization code exchange, and the refresh case asks
 * for JWTs with `resource`.
 *
 * Logins go through its authorization endpoint and interaction flow: the
 * interaction URL is answered by `interactionFinished` with the login and a
 * saved Grant, as an application's own login page would after checking a
 * password (no password check here: oidc-provider has none of its own).
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { REDACTED_PATHS } from '../../src/infra/logger.js';
import { errorsOnly } from './service.js';
import { basicAuth, codeFrom, CookieJar, followToRedirectUri, pkcePair, randomText, type TokenAnswer, tokenRequest } from './oauth.js';

/** The resource server JWT access tokens are issued for. */
export const RESOURCE = 'urn:bench:api';
const RESOURCE_SCOPE = 'api:read';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const OIDC_SCOPES = 'openid email profile offline_access';

/** The little of oidc-provider's API this file uses (the package ships no type declarations). */
interface GrantModel {
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}
interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ uid: string; params: Record<string, unknown> }>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: object, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
  readonly Grant: new (properties: { accountId: string; clientId: string }) => GrantModel;
  on(event: string, listener: (...args: unknown[]) => void): void;
}
interface OidcProviderModule {
  default: new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;
  errors: { InvalidTarget: new (description?: string) => Error };
}
// Loaded by name at run time: it is a dev dependency, and untyped.
const MODULE_NAME = 'oidc-provider';

export interface Account {
  readonly id: string;
  readonly email: string;
  readonly name: string;
}

export interface ReferenceProvider {
  readonly issuer: string;
  readonly tokenPath: string;
  readonly userinfoPath: string;
  readonly introspectionPath: string;
  readonly clientAuthorization: string;
  /** A login through the authorization endpoint and a code exchange (opaque access token, refresh token). */
  login(account: Account): Promise<TokenAnswer>;
  close(): Promise<void>;
}

const listen = (server: Server): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });

/**
 * `logLevel`: oidc-provider has no request log of its own; it gets ours (pino-http, the same
 * redaction, the same sink that drops everything below error) at the same level, so that both
 * sides of the benchmark pay for one.
 */
export async function startOidcProvider(accounts: readonly Account[], logLevel = 'info'): Promise<ReferenceProvider> {
  const { default: Provider, errors } = (await import(MODULE_NAME)) as OidcProviderModule;
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const byId = new Map(accounts.map((account) => [account.id, account]));
  const clientId = 'bench-client';
  const clientSecret = randomText();
  const signingKey = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomText()] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    async findAccount(_ctx: unknown, sub: string) {
      const account = byId.get(sub);
      return (
        account && {
          accountId: account.id,
          claims: async () => ({ sub: account.id, email: account.email, email_verified: false, name: account.name, preferred_username: account.email }),
        }
      );
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string[]) => oneOf,
        useGrantedResource: async () => false,
        async getResourceServerInfo(_ctx: unknown, resourceIndicator: string) {
          if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
          return { scope: RESOURCE_SCOPE, audience: RESOURCE, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
        },
      },
    },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    // The same lifetimes as our service's defaults.
    ttl: { AccessToken: 600, ClientCredentials: 600, IdToken: 3_600, AuthorizationCode: 60, Interaction: 600, Session: 86_400, Grant: 14 * 86_400, RefreshToken: 14 * 86_400 },
    interactions: { url: async (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
  });
  provider.on('server_error', (_ctx: unknown, error: unknown) => console.error('oidc-provider server_error:', error));

  /** The application's login page: the account comes from login_hint; login and consent at once. */
  const finishInteraction = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const details = await provider.interactionDetails(req, res);
      const account = byId.get(String(details.params.login_hint ?? ''));
      if (!account) throw new Error('unknown login_hint');
      const grant = new provider.Grant({ accountId: account.id, clientId: String(details.params.client_id) });
      grant.addOIDCScope(OIDC_SCOPES);
      grant.addResourceScope(RESOURCE, RESOURCE_SCOPE);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: account.id }, consent: { grantId } }, { mergeWithLastSubmission: false });
    } catch (error) {
      res.statusCode = 500;
      res.end(String(error));
    }
  };
  const handle = provider.callback();
  const requestLog = pinoHttp({ logger: pino({ level: logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, errorsOnly()) });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    requestLog(req, res);
    if (req.method === 'GET' && req.url?.startsWith('/interaction/')) void finishInteraction(req, res);
    else handle(req, res);
  });

  const clientAuthorization = basicAuth(clientId, clientSecret);
  const tokenUrl = `${issuer}/token`;
  return {
    issuer,
    tokenPath: '/token',
    userinfoPath: '/me',
    introspectionPath: '/token/introspection',
    clientAuthorization,
    async login(account) {
      const { verifier, challenge } = pkcePair();
      const state = randomText();
      const authorization = new URL(`${issuer}/auth`);
      for (const [name, value] of Object.entries({
        client_id: clientId,
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: `${OIDC_SCOPES} ${RESOURCE_SCOPE}`,
        resource: RESOURCE,
        prompt: 'consent', // oidc-provider drops offline_access without it
        login_hint: account.id,
        state,
        nonce: randomText(),
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })) {
        authorization.searchParams.set(name, value);
      }
      const callback = await followToRedirectUri(authorization.href, REDIRECT_URI, new CookieJar());
      return tokenRequest(tokenUrl, clientAuthorization, {
        grant_type: 'authorization_code',
        code: codeFrom(callback, state),
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
