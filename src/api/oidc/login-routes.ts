import { countLogin } from '../../infra/metrics/metrics.js';
import { randomBytes } from 'node:crypto';
import type { Request } from 'express';
import { z } from 'zod';
import type { LoginFlowRejection, ThrottleLimit } from '../../domain/login-flow/events.js';
import { HashQueueFullError } from '../../infra/crypto/hash-queue.js';
import { accountKey } from '../auth/login-throttle.js';
import { ConflictError, InvalidCommandError } from '../../domain/shared/errors.js';
import { defineRoute, type RouteReply } from '../http/route.js';
import { federationLogin } from './federation-routes.js';
import { loginPage, newPasswordPage } from './pages.js';
import {
  formField,
  htmlError,
  htmlPage,
  type OidcDependencies,
  PATHS,
  PKCE_CHALLENGE,
  redirectWithParameters,
  REQUEST_TTL_SECONDS,
  SUPPORTED_SCOPES,
  systemMeta,
} from './shared.js';

/** "3 seconds", "2 minutes". */
const waitText = (seconds: number): string => (seconds < 120 ? `${seconds} second${seconds === 1 ? '' : 's'}` : `${Math.ceil(seconds / 60)} minutes`);

/** A password-change ticket is good for a few minutes: long enough to type a new password twice. */
const TICKET_TTL_SECONDS = 300;

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
  /** A platform application names the organization whose account signs in (its id or name); other applications' is their own. */
  organization: optionalText,
});
type AuthorizationRequest = z.infer<typeof authorizationRequestSchema>;

/** What the login form carries between pages, signed so it cannot be altered. */
export interface PendingAuthorization {
  /** A random id for this one flow: every later step (a password-change ticket, an account choice) names it. */
  flow: string;
  client_id: string;
  redirect_uri: string;
  scope: string;
  state?: string;
  nonce?: string;
  code_challenge: string;
  login_hint?: string;
  /** The organization a platform application named in its request: the login is for that organization's account. */
  organization?: string;
  /** Passed on to an upstream identity provider when the login goes there. */
  prompt?: string;
  max_age?: string;
  acr_values?: string;
}

/** How a login was proven, for user.login.succeeded. */
export type LoginMethod = { method: 'password' } | { method: 'federated'; providerID: string; issuer: string };

/** The steps every way of signing in shares: the pending request, refusals, and the end (a code for the client). */
export interface LoginFlow {
  readPending(token: string | undefined): Promise<PendingAuthorization | undefined>;
  rejectStep(req: Request, pending: PendingAuthorization, reason: LoginFlowRejection): Promise<RouteReply>;
  finishLogin(req: Request, pending: PendingAuthorization, user: { id: string; organizationId: string; subject: string }, how: LoginMethod): Promise<RouteReply>;
}

/** The authorization endpoint and the login pages: from the client's request to a code. */
export function loginRoutes(deps: OidcDependencies) {
  const { issuer, keys, tokens, clients, users, credentials, writes, rejections, endSessions, throttle, logins } = deps;
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
      flow: randomBytes(16).toString('base64url'),
      client_id: client.clientId,
      redirect_uri: params.redirect_uri,
      scope: [...new Set(scopes)].join(' '),
      code_challenge: params.code_challenge,
      ...(params.state !== undefined && { state: params.state }),
      ...(params.nonce !== undefined && { nonce: params.nonce }),
      ...(params.login_hint !== undefined && { login_hint: params.login_hint }),
      ...(client.platform && params.organization && { organization: params.organization }),
      ...(params.prompt !== undefined && { prompt: params.prompt }),
      ...(params.max_age !== undefined && { max_age: params.max_age }),
      ...(params.acr_values !== undefined && { acr_values: params.acr_values }),
    };
    const request = await signPending(pending);
    // An application that hosts its own sign-in chooser gets the signed request; its page posts back to the login endpoint.
    if (client.loginURI) return redirectWithParameters(client.loginURI, { state: request, ...(params.login_hint !== undefined && { login_hint: params.login_hint }) });
    return htmlPage(
      loginPage({
        action: PATHS.login,
        request,
        clientName: client.name,
        email: params.login_hint,
        askOrganization: client.platform && pending.organization === undefined,
        providers: deps.federation?.providers.platformProviders() ?? [],
      }),
    );
  }

  /** A step that does not belong to its flow: a 400 page, and a (sampled) event saying so. */
  async function rejectStep(req: Request, pending: PendingAuthorization, reason: LoginFlowRejection): Promise<RouteReply> {
    const client = await clients.client(pending.client_id);
    await rejections.record(
      { clientId: pending.client_id, organizationId: client?.organizationId ?? '', reason, ...(req.ip !== undefined && { sourceAddress: req.ip }) },
      systemMeta(writes, req, pending.client_id, 'application'),
    );
    return htmlError(400, 'Sign-in refused', 'This page does not belong to the sign-in you started. Go back to the application and start again.');
  }

  /** After a successful login: a code, and back to the client. */
  async function finishLogin(req: Request, pending: PendingAuthorization, user: { id: string; organizationId: string; subject: string }, how: LoginMethod): Promise<RouteReply> {
    // Whatever step got here, the account must belong to the client's organization (platform clients serve all).
    const client = await clients.client(pending.client_id);
    if (!client || !client.enabled) return htmlError(400, 'Unknown application', 'The application is not known or is disabled.');
    if (!client.platform && client.organizationId !== user.organizationId) return rejectStep(req, pending, 'account_not_in_client_organization');
    const meta = systemMeta(writes, req, user.subject, 'user', user.id);
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
    const userAgent = req.get('user-agent');
    await logins.succeeded(
      {
        userId: user.id,
        organizationId: user.organizationId,
        ...how,
        clientId: pending.client_id,
        ...(req.ip !== undefined && { sourceAddress: req.ip }),
        ...(userAgent !== undefined && { userAgent: userAgent.slice(0, 512) }),
      },
      meta,
    );
    countLogin(how.method, 'succeeded');
    // The code's position is after the activity's when both were written: one wait covers both.
    await writes.settle(position ?? activity);
    return redirectWithParameters(pending.redirect_uri, { code, state: pending.state, iss: issuer });
  }

  const flow: LoginFlow = { readPending, rejectStep, finishLogin };
  const federation = deps.federation && { ...federationLogin(deps, deps.federation, flow), providers: deps.federation.providers };

  return [
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
      request: { body: z.object({ state: formField, email: formField, password: formField, provider: formField, organization: formField }), bodyType: 'form' },
      responses: {
        200: { description: 'The form again, with the error, or the form to choose a new password.', html: true },
        302: { description: 'Back to the client with the code.' },
        400: { description: 'The login request expired or was altered.', html: true },
      },
      handler: async ({ body, req }) => {
        // Every password attempt spends from its source's budget first, before any work.
        const source = throttle.sourceOf(req);
        const rate = throttle.request(source);
        const pending = await readPending(body.state);
        if (!pending) return htmlError(400, 'Sign-in expired', 'This sign-in page has expired. Go back to the application and start again.');
        const client = await clients.client(pending.client_id);
        if (!client || !client.enabled) return htmlError(400, 'Unknown application', 'The application is not known or is disabled.');
        // A platform application serves every organization: the one its request named, or the one the person typed.
        const askOrganization = client.platform && pending.organization === undefined;
        const page = (error: string, status = 200, headers: Record<string, string> = {}) =>
          htmlPage(
            loginPage({
              action: PATHS.login,
              request: body.state!,
              clientName: client.name,
              email: body.email,
              organization: body.organization,
              askOrganization,
              error,
              providers: federation?.providers.platformProviders() ?? [],
            }),
            status,
            headers,
          );
        const refused = async (verdict: { retryAfterSeconds: number; limit: ThrottleLimit }, tried?: { user: { id: string; organizationId: string } | undefined }) => {
          const attempt = { limit: verdict.limit, clientId: client.clientId, sourceAddress: source };
          const meta = systemMeta(writes, req, client.clientId, 'application');
          if (verdict.limit === 'source_rate' || !tried) await rejections.throttled(attempt, meta);
          else {
            // An account slowed down: named when it exists (the "locked account" record, docs/audit-roles.md). The account
            // was looked up before the throttle (the same cost whether it exists or not), and the record is not awaited.
            const user = tried.user;
            void rejections
              .throttled({ ...attempt, ...(user && { userId: user.id, organizationId: user.organizationId }) }, meta)
              .catch((error: unknown) => req.log?.warn({ err: error }, 'could not record a throttled login'));
          }
          countLogin('password', 'throttled');
          return page(`Too many attempts. Try again in ${waitText(verdict.retryAfterSeconds)}.`, 429, { 'Retry-After': String(verdict.retryAfterSeconds) });
        };
        if (!rate.allowed) return refused(rate);
        const email = (body.email ?? '').trim();
        const organizationText = (pending.organization ?? body.organization ?? '').trim();
        // A platform provider's button, or an email whose domain an organization's provider serves: upstream.
        if (federation && !body.password && (body.provider || email)) {
          const organizationFor = async () => (client.platform ? await users.organizationId(organizationText) : client.organizationId);
          if (body.provider) return federation.start(req, pending, { scope: 'platform', id: body.provider }, await organizationFor(), email || undefined, page);
          const routed = await federation.providers.forEmail(email);
          if (routed) return federation.start(req, pending, routed.provider, routed.organizationId, email, page);
          // Identifier first: an email no provider serves signs in with its password.
          return page(askOrganization && !organizationText ? 'Enter your organization and password.' : 'Enter your password.');
        }
        if (!email || !body.password) return page(askOrganization ? 'Enter your organization, email and password.' : 'Enter your email and password.');
        const organizationId = client.platform ? await users.organizationId(organizationText) : client.organizationId;
        const user = organizationId === undefined ? undefined : await users.forLogin(email, organizationId);
        // One allowance per account, whichever of its names was typed (its email or its login name); a name that is no
        // account's is slowed down exactly as a real one, under the name as typed.
        const account = accountKey(organizationId ?? `?${organizationText.toLowerCase()}`, user ? `\u0000user:${user.id}` : email);
        const verdict = throttle.attempt(account, source);
        if (!verdict.allowed) return refused(verdict, { user });
        // The organization's, whether or not the email is one of its users (an unknown organization: the platform default).
        const attempts = (await deps.passwordPolicies?.effective(organizationId))?.maximum_password_attempts;
        let outcome;
        try {
          outcome = await credentials.verifyLogin(user && { userId: user.id, organizationId: user.organizationId }, body.password, {
            key: source,
            priority: throttle.isKnown(account, source),
          });
        } catch (error) {
          if (error instanceof HashQueueFullError) {
            countLogin('password', 'busy');
            return page('Too many people are signing in right now. Try again in a moment.', 503, { 'Retry-After': String(error.retryAfterSeconds) });
          }
          throw error;
        }
        const failure = (reason: 'wrong_password' | 'account_suspended' | 'account_pending', who: { id: string; organizationId: string; subject: string }) => {
          countLogin('password', reason);
          const userAgent = req.get('user-agent');
          // Not awaited: an existing account's answer must take no longer than a made-up one's (which writes nothing).
          void logins
            .failed(
              {
                userId: who.id,
                organizationId: who.organizationId,
                method: 'password',
                reason,
                clientId: client.clientId,
                sourceAddress: source,
                ...(userAgent !== undefined && { userAgent: userAgent.slice(0, 512) }),
              },
              systemMeta(writes, req, who.subject, 'user', who.id),
            )
            .catch((error: unknown) => req.log?.warn({ err: error }, 'could not record a failed login'));
        };
        if (outcome.result !== 'ok' || !user) {
          throttle.failed(account, source, attempts);
          if (user) failure('wrong_password', user);
          else countLogin('password', 'wrong_password'); // an unknown account: nothing is recorded, but it counts
          return page(askOrganization ? 'The organization, email or password is not right.' : 'The email or password is not right.');
        }
        throttle.succeeded(account, source);
        if (user.state === 'suspended') {
          failure('account_suspended', user);
          return page('This account is suspended. Ask your administrator.');
        }
        if (user.state === 'pending') {
          failure('account_pending', user);
          return page('This account is not active yet: open the link in the mail you were sent, or ask your administrator to send a new one.');
        }
        if (outcome.mustChangePassword) {
          const ticket = await keys.sign(
            {
              sub: user.id,
              org: user.organizationId,
              flow: pending.flow,
              client_id: pending.client_id,
              iss: issuer,
              aud: `${issuer}${PATHS.newPassword}`,
              exp: Math.floor(Date.now() / 1000) + TICKET_TTL_SECONDS,
            },
            'password-change+jwt',
          );
          return htmlPage(newPasswordPage({ action: PATHS.newPassword, request: body.state!, ticket }));
        }
        return finishLogin(req, pending, user, { method: 'password' });
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
        let ticket: { sub?: string; org?: string; flow?: string; client_id?: string } | undefined;
        try {
          ticket = body.ticket ? await keys.verify(body.ticket, { issuer, audience: `${issuer}${PATHS.newPassword}`, typ: 'password-change+jwt' }) : undefined;
        } catch {
          ticket = undefined;
        }
        const user = ticket?.sub ? await users.byId(ticket.sub) : undefined;
        if (!pending || !user || user.organizationId !== ticket?.org) {
          return htmlError(400, 'Sign-in expired', 'This page has expired. Go back to the application and start again.');
        }
        // The ticket was handed out in one flow, to one client: it completes that flow and no other.
        if (ticket.flow !== pending.flow || ticket.client_id !== pending.client_id) {
          return rejectStep(req, pending, 'ticket_not_for_this_flow');
        }
        if (user.state !== 'active') return htmlError(400, 'Account not active', 'This account is suspended or not yet active. Ask your administrator.');
        const retry = (error: string) => htmlPage(newPasswordPage({ action: PATHS.newPassword, request: body.state!, ticket: body.ticket!, error }));
        if (!body.new_password) return retry('Choose a new password.');
        if (body.new_password !== body.confirm_password) return retry('The two passwords are not the same.');
        const meta = systemMeta(writes, req, user.subject, 'user', user.id);
        try {
          const position = await credentials.replaceTemporaryPassword(
            { userId: user.id, organizationId: user.organizationId },
            body.new_password,
            meta,
          );
          // Whoever held the old password is signed out everywhere; the session this flow starts comes after.
          await writes.settle((await endSessions.ofUser(user.id, meta, 'password_changed')) ?? position);
        } catch (error) {
          if (error instanceof InvalidCommandError) return retry(`${error.message[0]!.toUpperCase()}${error.message.slice(1)}.`);
          // The temporary password was already replaced: this page was used before.
          if (error instanceof ConflictError) return htmlError(400, 'Sign-in expired', 'This page was already used. Go back to the application and start again.');
          // A flood of password checks: this page, not a JSON error, says so, and the form can be sent again.
          if (error instanceof HashQueueFullError) {
            return htmlPage(
              newPasswordPage({ action: PATHS.newPassword, request: body.state!, ticket: body.ticket!, error: 'Too many people are signing in right now. Try again in a moment.' }),
              503,
              { 'Retry-After': String(error.retryAfterSeconds) },
            );
          }
          throw error;
        }
        return finishLogin(req, pending, user, { method: 'password' });
      },
    }),
    ...(federation ? federation.routes : []),
  ];
}
