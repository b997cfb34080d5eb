import type { Request } from 'express';
import { z } from 'zod';
import type { CredentialCommands } from '../../commands/credentials/handlers.js';
import { GrantError, type TokenService } from '../../commands/oauth/token-service.js';
import { assertNever } from '../../domain/shared/decider.js';
import { ConflictError, InvalidCommandError } from '../../domain/shared/errors.js';
import type { SigningKeys } from '../../infra/keys/signing-keys.js';
import type { OAuthClient } from '../../projections/applications/queries.js';
import type { SessionQueries } from '../../projections/sessions/projection.js';
import type { Caller } from '../auth/caller.js';
import {
  errorBodySchema,
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
} from '../http/errors.js';
import { defineRoute, type RouteReply } from '../http/route.js';
import type { WriteContext } from '../write-context.js';
import { authenticateClient, type ClientDirectory } from './client-authentication.js';
import { errorPage, loginPage, newPasswordPage } from './pages.js';
import type { UserDirectory } from './user-directory.js';

export const SUPPORTED_SCOPES = ['openid', 'email', 'profile', 'offline_access'] as const;
const REQUEST_TTL_SECONDS = 600;
const PATHS = {
  authorization: '/oauth2/v2/authorization',
  login: '/oauth2/v2/login',
  newPassword: '/oauth2/v2/login/password',
  token: '/oauth2/v2/token',
  userinfo: '/oauth2/v2/userinfo',
  jwks: '/oauth2/v2/jwks',
  revocation: '/oauth2/v2/revoke',
  introspection: '/oauth2/v2/introspect',
};

export interface OidcDependencies {
  readonly issuer: string;
  readonly keys: SigningKeys;
  readonly tokens: TokenService;
  readonly clients: ClientDirectory;
  readonly users: UserDirectory;
  readonly credentials: CredentialCommands;
  readonly sessions: SessionQueries;
  readonly writes: WriteContext;
}

const optionalText = z.string().max(2048).optional();

/** Every parameter of the seed's authorization request. */
const authorizationRequestSchema = z.object({
  response_type: optionalText,
  client_id: optionalText,
  redirect_uri: optionalText,
  scope: optionalText,
  state: optionalText,
  nonce: optionalText,
  max_age: optionalText,
  display: optionalText,
  prompt: optionalText,
  ui_locales: optionalText,
  id_token_hint: z.string().max(8192).optional(),
  login_hint: optionalText,
  acr_values: optionalText,
  code_challenge: optionalText,
  code_challenge_method: optionalText,
  request: z.string().max(8192).optional(),
  request_uri: optionalText,
  response_mode: optionalText,
});
type AuthorizationRequest = z.infer<typeof authorizationRequestSchema>;

/** What the login form carries between pages, signed so it cannot be altered. */
interface PendingAuthorization {
  client_id: string;
  redirect_uri: string;
  scope: string;
  state?: string;
  nonce?: string;
  code_challenge: string;
  login_hint?: string;
}

const discoverySchema = z
  .object({
    issuer: z.string(),
    authorization_endpoint: z.string(),
    token_endpoint: z.string(),
    userinfo_endpoint: z.string(),
    jwks_uri: z.string(),
    revocation_endpoint: z.string(),
    introspection_endpoint: z.string(),
    scopes_supported: z.array(z.string()),
    claims_supported: z.array(z.string()),
    response_types_supported: z.array(z.string()),
    response_modes_supported: z.array(z.string()),
    grant_types_supported: z.array(z.string()),
    subject_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    revocation_endpoint_auth_methods_supported: z.array(z.string()),
    introspection_endpoint_auth_methods_supported: z.array(z.string()),
    id_token_signing_alg_values_supported: z.array(z.string()),
    code_challenge_methods_supported: z.array(z.string()),
    claims_parameter_supported: z.boolean(),
    request_parameter_supported: z.boolean(),
    request_uri_parameter_supported: z.boolean(),
    authorization_response_iss_parameter_supported: z.boolean(),
  })
  .meta({ id: 'openidConfiguration' });

const tokenSchema = z
  .object({
    token_type: z.string(),
    access_token: z.string(),
    refresh_token: z.string().optional(),
    id_token: z.string().optional(),
    expires_in: z.number().int(),
    scope: z.string().optional(),
  })
  .meta({ id: 'token' });

const userinfoSchema = z
  .object({ sub: z.string(), email: z.string().optional(), email_verified: z.boolean().optional(), name: z.string().optional(), preferred_username: z.string().optional() })
  .meta({ id: 'userinfo' });

const formField = z.string().max(4096).optional();
const tokenRequestSchema = z.object({
  grant_type: formField,
  code: formField,
  redirect_uri: formField,
  code_verifier: formField,
  refresh_token: formField,
  scope: formField,
  client_id: formField,
  client_secret: formField,
});

/** These endpoints are public as far as bearer tokens go, but authenticate the client: document their 401. */
const CLIENT_AUTHENTICATION_FAILED = { description: 'Client authentication failed (invalid_client).', schema: errorBodySchema };

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
/** The login pages take passwords: never cached, and never framed by another site (clickjacking). */
const PAGE_HEADERS = { ...NO_STORE, 'X-Frame-Options': 'DENY', 'Content-Security-Policy': "frame-ancestors 'none'" };
const PKCE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** Redirect back to the client with an error, as RFC 6749 4.1.2.1 and RFC 9207 (iss) say. */
function redirectWithParameters(redirectUri: string, parameters: Record<string, string | undefined>): RouteReply {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(parameters)) if (value !== undefined) url.searchParams.set(name, value);
  return { status: 302, redirect: url.toString(), headers: NO_STORE };
}

const htmlError = (status: number, title: string, message: string): RouteReply => ({ status, html: errorPage(title, message), headers: PAGE_HEADERS });
const htmlPage = (html: string): RouteReply => ({ status: 200, html, headers: PAGE_HEADERS });

export function oidcRoutes(deps: OidcDependencies) {
  const { issuer, keys, tokens, clients, users, credentials, sessions, writes } = deps;
  const url = (path: string) => `${issuer}${path}`;
  const loginAudience = `${issuer}${PATHS.login}`;

  const signPending = (pending: PendingAuthorization) =>
    keys.sign({ ...pending, iss: issuer, aud: loginAudience, exp: Math.floor(Date.now() / 1000) + REQUEST_TTL_SECONDS }, 'authz-request+jwt');

  const readPending = async (token: string | undefined): Promise<PendingAuthorization | undefined> => {
    if (!token) return undefined;
    try {
      return (await keys.verify(token, { issuer, audience: loginAudience, typ: 'authz-request+jwt' })) as unknown as PendingAuthorization;
    } catch {
      return undefined;
    }
  };

  const systemMeta = (req: Request, subject: string, kind: 'user' | 'application') =>
    writes.meta({ subject, kind, platformAdministrator: false }, (req as Request & { id: string }).id);

  /** Validate an authorization request: client and redirect URI first, and never redirect to an unchecked URI. */
  async function startAuthorization(params: AuthorizationRequest): Promise<RouteReply> {
    const client = params.client_id ? await clients.client(params.client_id) : undefined;
    if (!client || !client.enabled) return htmlError(400, 'Unknown application', 'The application that sent you here is not known or is disabled.');
    if (!params.redirect_uri || !client.redirectURIs.includes(params.redirect_uri)) {
      return htmlError(400, 'Invalid redirect', 'The address to return to is not registered for this application.');
    }
    const back = (error: string, description: string) =>
      redirectWithParameters(params.redirect_uri!, { error, error_description: description, state: params.state, iss: issuer });
    if (params.request !== undefined) return back('request_not_supported', 'request objects are not supported');
    if (params.request_uri !== undefined) return back('request_uri_not_supported', 'request_uri is not supported');
    if (!params.response_type) return back('invalid_request', 'response_type is required');
    if (params.response_type !== 'code') return back('unsupported_response_type', 'only response_type=code is supported');
    if (params.response_mode !== undefined && params.response_mode !== 'query') return back('invalid_request', 'only response_mode=query is supported');
    if (!client.grantTypes.includes('authorization_code')) return back('unauthorized_client', 'this application may not use the authorization code grant');
    const scopes = (params.scope ?? 'openid').split(' ').filter(Boolean);
    const unknown = scopes.filter((s) => !(SUPPORTED_SCOPES as readonly string[]).includes(s));
    if (unknown.length > 0) return back('invalid_scope', `unsupported scope: ${unknown.join(' ')}`);
    if (!params.code_challenge) return back('invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256');
    if (params.code_challenge_method !== 'S256') return back('invalid_request', 'only code_challenge_method=S256 is supported');
    if (!PKCE_CHALLENGE.test(params.code_challenge)) return back('invalid_request', 'code_challenge is not a base64url SHA-256 digest');
    if (params.prompt?.split(' ').includes('none')) return back('login_required', 'the user must sign in');
    const pending: PendingAuthorization = {
      client_id: client.clientId,
      redirect_uri: params.redirect_uri,
      scope: [...new Set(scopes)].join(' '),
      code_challenge: params.code_challenge,
      ...(params.state !== undefined && { state: params.state }),
      ...(params.nonce !== undefined && { nonce: params.nonce }),
      ...(params.login_hint !== undefined && { login_hint: params.login_hint }),
    };
    return htmlPage(loginPage({ action: PATHS.login, request: await signPending(pending), clientName: client.name, email: params.login_hint }));
  }

  /** After a successful login: a code, and back to the client. */
  async function finishLogin(req: Request, pending: PendingAuthorization, user: { id: string; organizationId: string; subject: string }): Promise<RouteReply> {
    const meta = systemMeta(req, user.subject, 'user');
    const activity = await tokens.recordActivity({ userId: user.id, organizationId: user.organizationId, subject: user.subject }, meta);
    const { code, position } = await tokens.issueAuthorizationCode(
      {
        clientId: pending.client_id,
        userId: user.id,
        organizationId: user.organizationId,
        redirectUri: pending.redirect_uri,
        codeChallenge: pending.code_challenge,
        scope: pending.scope,
        ...(pending.nonce !== undefined && { nonce: pending.nonce }),
        authTime: Math.floor(meta.now.getTime() / 1000),
      },
      meta,
    );
    // The code's position is after the activity's when both were written: one wait covers both.
    await writes.settle(position ?? activity);
    return redirectWithParameters(pending.redirect_uri, { code, state: pending.state, iss: issuer });
  }

  const userClaims = (userId: string) => liveUserClaims(users, userId);

  const bearerOf = (req: Request): string | undefined => {
    const match = /^Bearer ([\x21-\x7e]+)$/i.exec(req.get('authorization') ?? '');
    const posted = (req.body as Record<string, unknown> | undefined)?.access_token;
    return match?.[1] ?? (typeof posted === 'string' ? posted : undefined);
  };

  const userinfo = async (req: Request): Promise<RouteReply> => {
    const token = bearerOf(req);
    const found = token ? await resolveUserToken({ tokens, sessions, users }, token) : undefined;
    if (!found) {
      return {
        status: 401,
        body: { error: 'access_denied', error_description: token ? 'the access token is not valid, has expired or was revoked' : 'send an access token' },
        // RFC 6750 3.1: no error code when no token was sent at all.
        headers: { ...NO_STORE, 'WWW-Authenticate': token ? 'Bearer realm="oauth2", error="invalid_token"' : 'Bearer realm="oauth2"' },
      };
    }
    const scopes = new Set(found.claims.scope.split(' '));
    return {
      status: 200,
      body: {
        sub: found.user.sub,
        ...(scopes.has('email') && { email: found.user.email, email_verified: false }),
        ...(scopes.has('profile') && { name: found.user.name, preferred_username: found.user.email }),
      },
      headers: NO_STORE,
    };
  };

  const tokenGrant = async (req: Request, body: z.infer<typeof tokenRequestSchema>): Promise<RouteReply> => {
    const grantType = body.grant_type;
    if (!grantType) throw new InvalidRequestError('grant_type is required');
    if (!isGrantType(grantType)) throw new UnsupportedGrantTypeError(`grant_type ${grantType} is not supported`);
    const client: OAuthClient = await authenticateClient(req, clients, { allowPublic: grantType !== 'client_credentials' });
    if (!client.grantTypes.includes(grantType)) throw new UnauthorizedClientError(`this client may not use the ${grantType} grant`);
    const meta = systemMeta(req, client.clientId, 'application');
    try {
      let issued;
      switch (grantType) {
        case 'authorization_code':
          if (!body.code) throw new InvalidRequestError('code is required');
          if (!body.code_verifier) throw new InvalidRequestError('code_verifier is required (PKCE)');
          if (!PKCE_VERIFIER.test(body.code_verifier)) throw new InvalidGrantError('the code_verifier is not a valid PKCE verifier');
          issued = await tokens.exchangeCode({ client, code: body.code, redirectUri: body.redirect_uri, codeVerifier: body.code_verifier, user: userClaims }, meta);
          break;
        case 'refresh_token':
          if (!body.refresh_token) throw new InvalidRequestError('refresh_token is required');
          // An empty scope parameter is no scope parameter: the granted scope (RFC 6749 6).
          issued = await tokens.refresh({ client, refreshToken: body.refresh_token, scope: body.scope || undefined, user: userClaims }, meta);
          break;
        case 'client_credentials': {
          const scopes = (body.scope ?? '').split(' ').filter(Boolean);
          if (scopes.length > 0) throw new InvalidScopeError('client credentials take no scope: the client acts with the roles of its groups');
          issued = await tokens.clientCredentials(client, '', meta);
          break;
        }
        default:
          return assertNever(grantType);
      }
      await writes.settle(issued.position);
      return { status: 200, body: issued.response, headers: NO_STORE };
    } catch (error) {
      if (!(error instanceof GrantError)) throw error;
      // A refusal that revoked a session answers once the revocation is visible to bearer checks.
      await writes.settle(error.position);
      throw error.code === 'invalid_scope' ? new InvalidScopeError(error.message) : new InvalidGrantError(error.message);
    }
  };

  return [
    defineRoute({
      method: 'get',
      path: '/.well-known/openid-configuration',
      summary: 'OpenID Connect discovery.',
      tags: ['oidc'],
      access: 'public',
      responses: { 200: { description: 'What this provider supports.', schema: discoverySchema } },
      handler: async () => ({
        status: 200,
        body: {
          issuer,
          authorization_endpoint: url(PATHS.authorization),
          token_endpoint: url(PATHS.token),
          userinfo_endpoint: url(PATHS.userinfo),
          jwks_uri: url(PATHS.jwks),
          revocation_endpoint: url(PATHS.revocation),
          introspection_endpoint: url(PATHS.introspection),
          scopes_supported: [...SUPPORTED_SCOPES],
          claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'azp', 'at_hash', 'sid', 'email', 'email_verified', 'name', 'preferred_username'],
          response_types_supported: ['code'],
          response_modes_supported: ['query'],
          grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
          subject_types_supported: ['public'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
          revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
          introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          id_token_signing_alg_values_supported: ['ES256'],
          code_challenge_methods_supported: ['S256'],
          claims_parameter_supported: false,
          request_parameter_supported: false,
          request_uri_parameter_supported: false,
          authorization_response_iss_parameter_supported: true,
        },
      }),
    }),
    defineRoute({
      method: 'get',
      path: PATHS.jwks,
      summary: 'The public keys that verify tokens: the current one and the previous one.',
      tags: ['oidc'],
      access: 'public',
      responses: { 200: { description: 'A JSON web key set.', schema: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).meta({ id: 'jsonWebKeySet' }) } },
      handler: async () => ({ status: 200, body: await keys.jwks(), headers: { 'Cache-Control': 'public, max-age=300' } }),
    }),
    ...(['get', 'post'] as const).map((method) =>
      defineRoute({
        method,
        path: PATHS.authorization,
        summary: 'Start an authorization code flow (PKCE S256 required): answers the login form.',
        tags: ['oidc'],
        access: 'public',
        request: method === 'get' ? { query: authorizationRequestSchema } : { body: authorizationRequestSchema, bodyType: 'form' },
        responses: {
          200: { description: 'The login form.', html: true },
          302: { description: 'Back to the client with an error.' },
          400: { description: 'An unknown client or redirect URI: an error page, never a redirect.', html: true },
        },
        handler: async ({ query, body }) => startAuthorization((method === 'get' ? query : body) as AuthorizationRequest),
      }),
    ),
    defineRoute({
      method: 'post',
      path: PATHS.login,
      summary: 'The login form posts here: email and password; redirects back to the client with a code.',
      tags: ['oidc'],
      access: 'public',
      request: { body: z.object({ state: formField, email: formField, password: formField, provider: formField }), bodyType: 'form' },
      responses: {
        200: { description: 'The form again, with the error, or the form to choose a new password.', html: true },
        302: { description: 'Back to the client with the code.' },
        400: { description: 'The login request expired or was altered.', html: true },
      },
      handler: async ({ body, req }) => {
        const pending = await readPending(body.state);
        if (!pending) return htmlError(400, 'Sign-in expired', 'This sign-in page has expired. Go back to the application and start again.');
        const client = await clients.client(pending.client_id);
        if (!client || !client.enabled) return htmlError(400, 'Unknown application', 'The application is not known or is disabled.');
        const retry = (error: string) => htmlPage(loginPage({ action: PATHS.login, request: body.state!, clientName: client.name, email: body.email, error }));
        const email = (body.email ?? '').trim();
        if (!email || !body.password) return retry('Enter your email and password.');
        const user = await users.forLogin(email, client.platform ? undefined : client.organizationId);
        const meta = systemMeta(req, email, 'user');
        const outcome = await credentials.verifyLogin(user && { userId: user.id, organizationId: user.organizationId }, body.password, meta);
        if (outcome.result === 'locked') return retry('Too many failed attempts: this account is locked for a while. Try again later.');
        if (outcome.result !== 'ok' || !user) return retry('The email or password is not right.');
        if (user.state === 'suspended') return retry('This account is suspended. Ask your administrator.');
        await writes.settle(outcome.position);
        if (outcome.mustChangePassword) {
          const ticket = await keys.sign(
            { sub: user.id, org: user.organizationId, iss: issuer, aud: `${issuer}${PATHS.newPassword}`, exp: Math.floor(Date.now() / 1000) + REQUEST_TTL_SECONDS },
            'password-change+jwt',
          );
          return htmlPage(newPasswordPage({ action: PATHS.newPassword, request: body.state!, ticket }));
        }
        return finishLogin(req, pending, user);
      },
    }),
    defineRoute({
      method: 'post',
      path: PATHS.newPassword,
      summary: 'After a password reset: the user chooses a new password, then returns to the client with a code.',
      tags: ['oidc'],
      access: 'public',
      request: { body: z.object({ state: formField, ticket: formField, new_password: formField, confirm_password: formField }), bodyType: 'form' },
      responses: {
        200: { description: 'The form again, with the error.', html: true },
        302: { description: 'Back to the client with the code.' },
        400: { description: 'The request expired or was altered.', html: true },
      },
      handler: async ({ body, req }) => {
        const pending = await readPending(body.state);
        let ticket: { sub?: string; org?: string } | undefined;
        try {
          ticket = body.ticket ? await keys.verify(body.ticket, { issuer, audience: `${issuer}${PATHS.newPassword}`, typ: 'password-change+jwt' }) : undefined;
        } catch {
          ticket = undefined;
        }
        const user = ticket?.sub ? await users.byId(ticket.sub) : undefined;
        if (!pending || !user || user.organizationId !== ticket?.org) {
          return htmlError(400, 'Sign-in expired', 'This page has expired. Go back to the application and start again.');
        }
        if (user.state === 'suspended') return htmlError(400, 'Account suspended', 'This account is suspended. Ask your administrator.');
        const retry = (error: string) => htmlPage(newPasswordPage({ action: PATHS.newPassword, request: body.state!, ticket: body.ticket!, error }));
        if (!body.new_password) return retry('Choose a new password.');
        if (body.new_password !== body.confirm_password) return retry('The two passwords are not the same.');
        try {
          const position = await credentials.replaceTemporaryPassword(
            { userId: user.id, organizationId: user.organizationId },
            body.new_password,
            systemMeta(req, user.subject, 'user'),
          );
          await writes.settle(position);
        } catch (error) {
          if (error instanceof InvalidCommandError) return retry(`${error.message[0]!.toUpperCase()}${error.message.slice(1)}.`);
          // The temporary password was already replaced: this page was used before.
          if (error instanceof ConflictError) return htmlError(400, 'Sign-in expired', 'This page was already used. Go back to the application and start again.');
          throw error;
        }
        return finishLogin(req, pending, user);
      },
    }),
    defineRoute({
      method: 'post',
      path: PATHS.token,
      summary: 'Exchange a code, a refresh token or client credentials for tokens.',
      tags: ['oidc'],
      access: 'public',
      request: { body: tokenRequestSchema, bodyType: 'form' },
      responses: { 200: { description: 'Tokens.', schema: tokenSchema }, 401: CLIENT_AUTHENTICATION_FAILED },
      handler: async ({ req, body }) => tokenGrant(req, body),
    }),
    ...(['get', 'post'] as const).map((method) =>
      defineRoute({
        method,
        path: PATHS.userinfo,
        summary: 'The signed-in user, as the access token allows.',
        tags: ['oidc'],
        access: 'public',
        ...(method === 'post' && { request: { body: z.object({ access_token: formField }), bodyType: 'form' as const } }),
        responses: {
          200: { description: 'Information about the user.', schema: userinfoSchema },
          401: { description: 'No access token, or one that is not valid, has expired or was revoked.', schema: errorBodySchema },
        },
        handler: async ({ req }) => userinfo(req),
      }),
    ),
    defineRoute({
      method: 'post',
      path: PATHS.revocation,
      summary: 'Revoke a refresh or access token, ending its session (RFC 7009).',
      tags: ['oidc'],
      access: 'public',
      request: { body: z.object({ token: formField, token_type_hint: formField, client_id: formField, client_secret: formField }), bodyType: 'form' },
      responses: { 200: { description: 'Revoked, or nothing to revoke.' }, 401: CLIENT_AUTHENTICATION_FAILED },
      handler: async ({ req, body }) => {
        const client = await authenticateClient(req, clients, { allowPublic: true });
        if (!body.token) throw new InvalidRequestError('token is required');
        const position = await tokens.revokeToken(body.token, client.clientId, systemMeta(req, client.clientId, 'application'));
        await writes.settle(position);
        return { status: 200, headers: NO_STORE };
      },
    }),
    defineRoute({
      method: 'post',
      path: PATHS.introspection,
      summary: 'Whether an access token is active, and what it carries (RFC 7662).',
      tags: ['oidc'],
      access: 'public',
      request: { body: z.object({ token: formField, token_type_hint: formField, client_id: formField, client_secret: formField }), bodyType: 'form' },
      responses: {
        200: { description: 'The token introspection.', schema: z.object({ active: z.boolean() }).loose().meta({ id: 'introspection' }) },
        401: CLIENT_AUTHENTICATION_FAILED,
      },
      handler: async ({ req, body }) => {
        const client = await authenticateClient(req, clients, { allowPublic: false });
        if (!body.token) throw new InvalidRequestError('token is required');
        const inactive: RouteReply = { status: 200, body: { active: false }, headers: NO_STORE };
        const claims = await tokens.verifySignature(body.token);
        if (claims) {
          const session = await sessions.live(claims);
          // A client learns about its own tokens and those of its organization, not another tenant's.
          if (!session || (claims.client_id !== client.clientId && session.organizationId !== client.organizationId)) return inactive;
          return { status: 200, body: { active: true, iss: issuer, aud: issuer, token_type: 'Bearer', ...claims }, headers: NO_STORE };
        }
        // A refresh token is introspected by the client it was issued to only.
        const refresh = await tokens.introspectRefreshToken(body.token, client.clientId);
        if (!refresh || !(await clients.client(refresh.client_id))?.enabled) return inactive;
        const { organizationId: _organizationId, ...facts } = refresh;
        return { status: 200, body: { active: true, iss: issuer, token_type: 'refresh_token', ...facts }, headers: NO_STORE };
      },
    }),
  ];
}

/** The claims the ID token and userinfo carry for a user who may still sign in. */
async function liveUserClaims(users: UserDirectory, userId: string) {
  const user = await users.byId(userId);
  return user && user.state !== 'suspended' ? { sub: user.id, email: user.subject, name: user.name, organizationId: user.organizationId } : undefined;
}

/** A bearer access token's claims and session, if it is signed by us, its session current and its client enabled. */
async function liveToken(deps: Pick<OidcDependencies, 'tokens' | 'sessions'>, token: string) {
  const claims = await deps.tokens.verifySignature(token);
  const session = claims && (await deps.sessions.live(claims));
  return session && { claims: claims!, session };
}

/** The user a live token speaks for, unless suspended or gone. Each use counts as the user's activity (throttled in the token service). */
async function activeUser(deps: Pick<OidcDependencies, 'tokens' | 'users'>, userId: string) {
  const user = await liveUserClaims(deps.users, userId);
  if (user) await deps.tokens.recordActivity({ userId: user.sub, organizationId: user.organizationId, subject: user.email });
  return user;
}

/** The user behind a bearer access token, if the token and the user are still good. */
async function resolveUserToken(deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users'>, token: string) {
  const live = await liveToken(deps, token);
  const user = live?.session.subjectKind === 'user' ? await activeUser(deps, live.claims.sub) : undefined;
  return user && { claims: live!.claims, user };
}

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const satisfies readonly OAuthClient['grantTypes'][number][];
const isGrantType = (value: string): value is (typeof GRANT_TYPES)[number] => (GRANT_TYPES as readonly string[]).includes(value);

/** The access-token credential for the admin API: a user's or a client's, while its session is current and its client enabled. */
export const accessTokenCredential = (deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users'> & { applicationName: (id: string) => Promise<string | undefined> }) =>
  async (token: string): Promise<Caller | undefined> => {
    // Not a JWT: another resolver's token (a service account's), no need to verify.
    if (token.split('.').length !== 3) return undefined;
    const live = await liveToken(deps, token);
    if (!live) return undefined;
    const { claims, session } = live;
    if (session.subjectKind === 'application') {
      const name = await deps.applicationName(claims.client_id);
      return name === undefined
        ? undefined
        : { subject: name, kind: 'application', platformAdministrator: false, organizationId: session.organizationId, principalId: claims.client_id };
    }
    const user = await activeUser(deps, claims.sub);
    return user && { subject: user.email, kind: 'user', platformAdministrator: false, organizationId: user.organizationId, principalId: user.sub };
  };
