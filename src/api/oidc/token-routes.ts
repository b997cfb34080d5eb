import type { Request } from 'express';
import { z } from 'zod';
import { GrantError } from '../../commands/oauth/token-service.js';
import { assertNever } from '../../domain/shared/decider.js';
import { ConcurrencyError } from '../../domain/shared/errors.js';
import type { OAuthClient } from '../../projections/applications/queries.js';
import { countTokenRequest } from '../../infra/metrics/metrics.js';
import {
  errorBodySchema,
  HttpError,
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  ServiceBusyError,
  TooManyRequestsError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
} from '../http/errors.js';
import { defineRoute, type RouteReply } from '../http/route.js';
import { liveUserClaims, rememberedOrChecked, resolveUserToken } from './bearer.js';
import type { ClientAuthenticationEndpoint } from '../../domain/audit/denials.js';
import { authenticateClient, authenticatesWithCertificate, ClientAuthenticationError, type ClientDirectory } from './client-authentication.js';
import { CLIENT_AUTHENTICATION_FAILED, formField, NO_STORE, type OidcDependencies, PATHS, PKCE_VERIFIER, systemMeta } from './shared.js';

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

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const satisfies readonly OAuthClient['grantTypes'][number][];
const isGrantType = (value: string): value is (typeof GRANT_TYPES)[number] => (GRANT_TYPES as readonly string[]).includes(value);

/** The token endpoint, userinfo, revocation and introspection. */
export function tokenRoutes(deps: OidcDependencies) {
  const { issuer, tokens, clients, users, sessions, liveTokens, writes, throttle, rejections, certificates, denials } = deps;

  /** Client authentication, its refusals recorded (client.authentication.failed, sampled per client id and address). */
  const authenticate = async (
    endpoint: ClientAuthenticationEndpoint,
    req: Request,
    directory: ClientDirectory,
    options: Parameters<typeof authenticateClient>[2],
  ): Promise<OAuthClient> => {
    try {
      return await authenticateClient(req, directory, options);
    } catch (error) {
      if (error instanceof ClientAuthenticationError && denials) {
        const { clientId, organizationId, method } = error.attempt;
        const source = throttle.sourceOf(req);
        await denials
          .clientAuthenticationFailed(
            {
              clientId: clientId.slice(0, 128),
              ...(organizationId !== undefined && { organizationId }),
              endpoint,
              reason: error.reason,
              method,
              ...(source !== undefined && { sourceAddress: source }),
            },
            systemMeta(writes, req, organizationId !== undefined ? clientId : 'unknown-client', 'application'),
          )
          .catch((failure: unknown) => req.log?.warn({ err: failure }, 'could not record a rejected client authentication'));
      }
      throw error;
    }
  };

  const userClaims = (userId: string) => liveUserClaims(users, userId);

  const bearerOf = (req: Request): string | undefined => {
    const match = /^Bearer ([\x21-\x7e]+)$/i.exec(req.get('authorization') ?? '');
    const posted = (req.body as Record<string, unknown> | undefined)?.access_token;
    return match?.[1] ?? (typeof posted === 'string' ? posted : undefined);
  };

  const userinfo = async (req: Request): Promise<RouteReply> => {
    const token = bearerOf(req);
    const resolving = token ? resolveUserToken({ tokens, sessions, users, liveTokens }, token, () => certificates.of(req)) : undefined;
    const found = resolving instanceof Promise ? await resolving : resolving;
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
    // The seed names the authorization code grant `code`: accept it as an alias of RFC 6749's name.
    const grantType = body.grant_type === 'code' ? 'authorization_code' : body.grant_type;
    if (!grantType) throw new InvalidRequestError('grant_type is required');
    if (!isGrantType(grantType)) throw new UnsupportedGrantTypeError(`grant_type ${grantType} is not supported`);
    const certificate = certificates.of(req);
    const client: OAuthClient = await authenticate('token', req, clients, { allowPublic: grantType !== 'client_credentials', certificate });
    if (!client.grantTypes.includes(grantType)) throw new UnauthorizedClientError(`this client may not use the ${grantType} grant`);
    // A client the certificate authenticated gets access tokens bound to it (RFC 8705 3); a public client
    // that presents one (any, even self-signed: it proves possession, not identity) gets its access and
    // refresh tokens bound to it (RFC 8705 4). A secret client's certificate binds nothing.
    const certificateThumbprint = authenticatesWithCertificate(client) || client.public ? certificate?.thumbprint : undefined;
    const meta = systemMeta(writes, req, client.clientId, 'application');
    try {
      let issued;
      switch (grantType) {
        case 'authorization_code':
          if (!body.code) throw new InvalidRequestError('code is required');
          if (!body.code_verifier) throw new InvalidRequestError('code_verifier is required (PKCE)');
          if (!PKCE_VERIFIER.test(body.code_verifier)) throw new InvalidGrantError('the code_verifier is not a valid PKCE verifier');
          issued = await tokens.exchangeCode(
            {
              client,
              code: body.code,
              redirectUri: body.redirect_uri,
              codeVerifier: body.code_verifier,
              user: userClaims,
              certificateThumbprint,
              bindRefreshTokens: client.public,
            },
            meta,
          );
          break;
        case 'refresh_token':
          if (!body.refresh_token) throw new InvalidRequestError('refresh_token is required');
          // An empty scope parameter is no scope parameter: the granted scope (RFC 6749 6).
          issued = await tokens.refresh({ client, refreshToken: body.refresh_token, scope: body.scope || undefined, user: userClaims, certificateThumbprint }, meta);
          break;
        case 'client_credentials': {
          const scopes = (body.scope ?? '').split(' ').filter(Boolean);
          if (scopes.length > 0) throw new InvalidScopeError('client credentials take no scope: the client acts with the roles of its groups');
          issued = await tokens.clientCredentials(client, '', meta, certificateThumbprint, async (sessionId) =>
            Boolean(await sessions.current(client.clientId, client.clientId, sessionId)),
          );
          break;
        }
        default:
          return assertNever(grantType);
      }
      // A new generation (a login, a client's new session) answers once bearer checks know it. A rotation
      // continues its generation, whose tokens bearer checks already accept: only its append must be durable.
      if (grantType !== 'refresh_token') await writes.settle(issued.position);
      return { status: 200, body: issued.response, headers: NO_STORE };
    } catch (error) {
      // Every attempt met a newer revision of the session (another login or refresh kept winning): not the client's fault; try again.
      if (error instanceof ConcurrencyError) throw new ServiceBusyError(1, 'the session changed concurrently; try again in a moment');
      if (!(error instanceof GrantError)) throw error;
      // A refusal that revoked a session answers once the revocation is visible to bearer checks.
      await writes.settle(error.position);
      throw error.code === 'invalid_scope' ? new InvalidScopeError(error.message) : new InvalidGrantError(error.message);
    }
  };

  return [
    defineRoute({
      method: 'post',
      path: PATHS.token,
      summary: 'Exchange a code, a refresh token or client credentials for tokens.',
      tags: ['oidc'],
      access: 'public',
      lean: true,
      fixedResponses: true,
      request: { body: tokenRequestSchema, bodyType: 'form' },
      responses: { 200: { description: 'Tokens.', schema: tokenSchema }, 401: CLIENT_AUTHENTICATION_FAILED },
      handler: async ({ req, body }) => {
        // The metrics count every answer: issued, or its OAuth error code.
        const grantType = body.grant_type === 'code' ? 'authorization_code' : body.grant_type;
        try {
          // A flood from one source is refused before any client authentication or grant work.
          const source = throttle.sourceOf(req);
          const rate = throttle.tokenRequest(source);
          if (!rate.allowed) {
            await rejections.throttled({ limit: rate.limit, sourceAddress: source }, systemMeta(writes, req, 'token-endpoint', 'application'));
            throw new TooManyRequestsError(rate.retryAfterSeconds, 'too many token requests from this address; try again later');
          }
          const reply = await tokenGrant(req, body);
          countTokenRequest(grantType, 'issued');
          return reply;
        } catch (error) {
          countTokenRequest(grantType, error instanceof HttpError ? error.code : 'server_error');
          throw error;
        }
      },
    }),
    ...(['get', 'post'] as const).map((method) =>
      defineRoute({
        method,
        path: PATHS.userinfo,
        summary: 'The signed-in user, as the access token allows.',
        tags: ['oidc'],
        access: 'public',
        lean: true,
        fixedResponses: true,
        ...(method === 'post' && { request: { body: z.object({ access_token: formField }), bodyType: 'form' as const } }),
        responses: {
          200: { description: 'Information about the user.', schema: userinfoSchema },
          401: { description: 'No access token, or one that is not valid, has expired or was revoked.', schema: errorBodySchema },
        },
        handler: ({ req }) => userinfo(req),
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
        const client = await authenticate('revocation', req, clients, { allowPublic: true, certificate: certificates.of(req) });
        if (!body.token) throw new InvalidRequestError('token is required');
        const position = await tokens.revokeToken(body.token, client.clientId, systemMeta(writes, req, client.clientId, 'application'));
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
      lean: true,
      fixedResponses: true,
      request: { body: z.object({ token: formField, token_type_hint: formField, client_id: formField, client_secret: formField }), bodyType: 'form' },
      responses: {
        200: { description: 'The token introspection.', schema: z.object({ active: z.boolean() }).loose().meta({ id: 'introspection' }) },
        401: CLIENT_AUTHENTICATION_FAILED,
      },
      handler: async ({ req, body }) => {
        const client = await authenticate('introspection', req, clients, { allowPublic: false, certificate: certificates.of(req) });
        if (!body.token) throw new InvalidRequestError('token is required');
        const inactive: RouteReply = { status: 200, body: { active: false }, headers: NO_STORE };
        const remembered = rememberedOrChecked({ tokens, sessions, users, liveTokens }, body.token);
        const checked = remembered instanceof Promise ? await remembered : remembered;
        if (checked) {
          const { claims, session } = checked;
          // A client learns about its own tokens and those of its organization, not another tenant's.
          if (claims.client_id !== client.clientId && session.organizationId !== client.organizationId) return inactive;
          // A certificate-bound token answers its cnf (RFC 8705 3.2): the resource server asking
          // accepts it only from a caller presenting the certificate with that thumbprint.
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
