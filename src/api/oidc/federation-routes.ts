import { countLogin } from '../../infra/metrics/metrics.js';
import { randomBytes } from 'node:crypto';
import type { Request } from 'express';
import { z } from 'zod';
import type { LoginFlowRejection } from '../../domain/login-flow/events.js';
import { ConflictError } from '../../domain/shared/errors.js';
import { UpstreamError, type UpstreamFailure } from '../../infra/oidc-rp/upstream.js';
import { defineRoute, type RouteReply } from '../http/route.js';
import type { ProviderRef } from './federation-providers.js';
import { bindingCookieName, FEDERATION_STATE_TTL_SECONDS, FederationStateSealer, readCookie } from './federation-state.js';
import type { LoginFlow, PendingAuthorization } from './login-routes.js';
import { type FederationDependencies, htmlError, NO_STORE, type OidcDependencies, PATHS, redirectWithParameters, systemMeta } from './shared.js';
import { unknownFederatedUser } from './unknown-user.js';

const callbackQuerySchema = z.object({
  state: z.string().max(16_384).optional(),
  code: z.string().max(4096).optional(),
  iss: z.string().max(2048).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(2048).optional(),
});

/** How each upstream failure ends for the client: an OAuth error redirect, never a 500. */
const CLIENT_ERROR: Record<UpstreamFailure, { error: string; description: string }> = {
  upstream_error: { error: 'access_denied', description: 'the identity provider did not sign the user in' },
  upstream_unavailable: { error: 'temporarily_unavailable', description: 'the identity provider could not be reached; try again later' },
  upstream_token_invalid: { error: 'access_denied', description: "the identity provider's answer could not be verified" },
};

/**
 * Federated login: the redirect to an upstream identity provider and the
 * callback (`GET /oidc/callback`) that ends in a code for the client.
 */
export function federationLogin(deps: OidcDependencies, federation: FederationDependencies, flow: LoginFlow) {
  const { issuer, clients, users, writes, rejections, logins } = deps;
  const { upstream, providers, states, identities } = federation;
  const callbackUri = `${issuer}${PATHS.federationCallback}`;
  const secureCookie = issuer.startsWith('https:');

  const record = async (req: Request, clientId: string, reason: LoginFlowRejection) => {
    const client = await clients.client(clientId);
    await rejections.record(
      { clientId, organizationId: client?.organizationId ?? '', reason, ...(req.ip !== undefined && { sourceAddress: req.ip }) },
      systemMeta(writes, req, clientId, 'application'),
    );
  };

  /** Send the browser upstream, with a sealed state and a cookie that binds it to this browser. */
  async function start(
    req: Request,
    pending: PendingAuthorization,
    ref: ProviderRef,
    organizationId: string | undefined,
    loginHint: string | undefined,
    page: (error: string, status?: number) => RouteReply,
  ): Promise<RouteReply> {
    const provider = await providers.resolve(ref);
    if (!provider) return page('This sign-in method is not available. Sign in with your password, or ask your administrator.');
    const codeVerifier = randomBytes(32).toString('base64url');
    const nonce = randomBytes(16).toString('base64url');
    const sealed = await states.seal<PendingAuthorization>({
      pending,
      provider: ref,
      ...(organizationId !== undefined && { organizationId }),
      codeVerifier,
      nonce,
    });
    let location: string;
    try {
      location = await upstream.authorizationUrl(provider, {
        redirectUri: callbackUri,
        state: sealed.state,
        nonce,
        codeVerifier,
        ...(loginHint !== undefined && { loginHint }),
        ...(pending.prompt !== undefined && { prompt: pending.prompt }),
        ...(pending.max_age !== undefined && { maxAge: pending.max_age }),
        ...(pending.acr_values !== undefined && { acrValues: pending.acr_values }),
      });
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      await record(req, pending.client_id, error.failure);
      return page('Your organization’s sign-in service cannot be reached right now. Try again in a moment.', 503);
    }
    const cookie = [
      `${bindingCookieName(sealed.id)}=${sealed.cookieValue}`,
      `Path=${PATHS.federationCallback}`,
      `Max-Age=${FEDERATION_STATE_TTL_SECONDS}`,
      'HttpOnly',
      'SameSite=Lax',
      ...(secureCookie ? ['Secure'] : []),
    ].join('; ');
    return { status: 302, redirect: location, headers: { ...NO_STORE, 'Set-Cookie': cookie } };
  }

  const callback = defineRoute({
    method: 'get',
    path: PATHS.federationCallback,
    summary: "An upstream identity provider sends the browser back here; ends in a code for the client, or an error.",
    tags: ['oidc'],
    access: 'public',
    request: { query: callbackQuerySchema },
    responses: {
      302: { description: 'Back to the client: a code, or access_denied / temporarily_unavailable.' },
      400: { description: 'An expired, altered, replayed or foreign state: an error page.', html: true },
    },
    handler: async ({ query, req }) => {
      const state = await states.open<PendingAuthorization>(query.state);
      if (!state) {
        await record(req, 'unknown', 'federation_state_invalid');
        return htmlError(400, 'Sign-in expired', 'This sign-in has expired or is not valid. Go back to the application and start again.');
      }
      const { pending } = state;
      const cookieName = bindingCookieName(state.id);
      const clearCookie = `${cookieName}=; Path=${PATHS.federationCallback}; Max-Age=0; HttpOnly; SameSite=Lax${secureCookie ? '; Secure' : ''}`;
      const withCleared = (reply: RouteReply): RouteReply => ({ ...reply, headers: { ...reply.headers, 'Set-Cookie': clearCookie } });
      // Only the browser that started this sign-in may finish it (login CSRF, a state injected into another browser).
      if (!FederationStateSealer.bound(state, readCookie(req.headers.cookie, cookieName))) {
        await record(req, pending.client_id, 'federation_browser_mismatch');
        return htmlError(400, 'Sign-in refused', 'This sign-in was started in another browser, or its cookie is missing. Go back to the application and start again.');
      }
      // Used once, across every instance: the first append to the state's stream wins.
      const first = await logins.consumeState(
        { stateId: state.id, clientId: pending.client_id, providerID: state.provider.id },
        systemMeta(writes, req, pending.client_id, 'application'),
      );
      if (!first) {
        await record(req, pending.client_id, 'federation_state_replayed');
        return withCleared(htmlError(400, 'Sign-in already used', 'This sign-in was already completed. Go back to the application and start again.'));
      }
      const back = (error: string, description: string) =>
        withCleared(redirectWithParameters(pending.redirect_uri, { error, error_description: description, state: pending.state, iss: issuer }));
      const provider = await providers.resolve(state.provider);
      if (!provider) {
        await record(req, pending.client_id, 'upstream_unavailable');
        return back('temporarily_unavailable', 'the identity provider is no longer configured');
      }
      let identity;
      try {
        identity = await upstream.complete(
          provider,
          new URL(req.originalUrl, callbackUri),
          { state: query.state!, nonce: state.nonce, codeVerifier: state.codeVerifier, ...(pending.max_age !== undefined && /^\d+$/.test(pending.max_age) && { maxAge: Number(pending.max_age) }) },
          () => provider.clientSecret(),
        );
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        req.log?.warn({ provider: provider.key, failure: error.failure, reason: error.message }, 'federated login failed upstream');
        await record(req, pending.client_id, error.failure);
        return back(CLIENT_ERROR[error.failure].error, CLIENT_ERROR[error.failure].description);
      }
      const meta = systemMeta(writes, req, pending.client_id, 'application');
      // A linked identity signs in as its user, whatever its email says today.
      let userId = await identities.linkedUser(identity.issuer, identity.subject);
      if (userId === undefined && identity.emailVerified && identity.email && state.organizationId) {
        // First login: the account with this (verified) email in the organization the login is for.
        const candidate = await users.forLogin(identity.email, state.organizationId);
        if (candidate) {
          try {
            await identities.linkIdentity(candidate.organizationId, candidate.id, { issuer: identity.issuer, subject: identity.subject, providerID: provider.id }, meta);
            userId = candidate.id;
          } catch (error) {
            // Linked meanwhile (a concurrent first login): whoever holds it now.
            if (!(error instanceof ConflictError)) throw error;
            userId = await identities.linkedUser(identity.issuer, identity.subject);
          }
        }
      }
      const user = userId === undefined ? undefined : await users.byId(userId);
      if (!user || (state.organizationId !== undefined && user.organizationId !== state.organizationId)) {
        await record(req, pending.client_id, 'federated_account_unknown');
        const client = await clients.client(pending.client_id);
        return withCleared(
          await unknownFederatedUser({
            pending,
            identity,
            ...(state.organizationId !== undefined && { organizationId: state.organizationId }),
            issuer,
            providerID: provider.id,
            ...(client && { client }),
            ...(federation.onboarding && { onboarding: federation.onboarding }),
          }),
        );
      }
      if (user.state !== 'active') {
        countLogin('federated', user.state === 'suspended' ? 'account_suspended' : 'account_pending');
        const userAgent = req.get('user-agent');
        await logins.failed(
          {
            userId: user.id,
            organizationId: user.organizationId,
            method: 'federated',
            reason: user.state === 'suspended' ? 'account_suspended' : 'account_pending',
            providerID: provider.id,
            issuer: identity.issuer,
            clientId: pending.client_id,
            ...(req.ip !== undefined && { sourceAddress: req.ip }),
            ...(userAgent !== undefined && { userAgent: userAgent.slice(0, 512) }),
          },
          systemMeta(writes, req, user.subject, 'user', user.id),
        );
        return back('access_denied', `the account is ${user.state}`);
      }
      return withCleared(await flow.finishLogin(req, pending, user, { method: 'federated', providerID: provider.id, issuer: identity.issuer }));
    },
  });

  return { start, routes: [callback, ...(federation.onboarding ? [federation.onboarding.route(deps, flow)] : [])] };
}
