import type { Request } from 'express';
import { z } from 'zod';
import type { CredentialCommands } from '../../commands/credentials/handlers.js';
import type { LoginFlowRejections } from '../../commands/login-flow/rejections.js';
import type { AuditDenials } from '../../commands/audit/denials.js';
import type { LoginRecords } from '../../commands/login-flow/logins.js';
import type { UserCommands } from '../../commands/user/handlers.js';
import type { UpstreamClients } from '../../infra/oidc-rp/upstream.js';
import type { FederationProviders } from './federation-providers.js';
import type { FederationStateSealer } from './federation-state.js';
import type { Onboarding } from './onboarding.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import type { SessionEnder } from '../../processes/session-revocation.js';
import type { TokenService } from '../../commands/oauth/token-service.js';
import type { SigningKeys } from '../../infra/keys/signing-keys.js';
import type { SessionQueries } from '../../projections/sessions/projection.js';
import type { LiveTokens } from '../../projections/sessions/live-tokens.js';
import { errorBodySchema } from '../http/errors.js';
import type { RouteReply } from '../http/route.js';
import type { WriteContext } from '../write-context.js';
import type { ClientCertificates } from '../middleware/client-certificate.js';
import type { ClientDirectory } from './client-authentication.js';
import { errorPage } from './pages.js';
import type { UserDirectory } from './user-directory.js';

/** What the OIDC provider's routes share: paths, dependencies, page and redirect helpers. */
export const SUPPORTED_SCOPES = ['openid', 'email', 'profile', 'offline_access'] as const;
export const REQUEST_TTL_SECONDS = 600;
export const PATHS = {
  authorization: '/oauth2/v2/authorization',
  login: '/oauth2/v2/login',
  newPassword: '/oauth2/v2/login/password',
  token: '/oauth2/v2/token',
  userinfo: '/oauth2/v2/userinfo',
  jwks: '/oauth2/v2/jwks',
  revocation: '/oauth2/v2/revoke',
  introspection: '/oauth2/v2/introspect',
  /** Where upstream identity providers send the browser back (the seed's origin's path). */
  federationCallback: '/oidc/callback',
};

/** What federated login needs: the upstream RP, provider choice, sealed states, identity links. */
export interface FederationDependencies {
  readonly upstream: UpstreamClients;
  readonly providers: FederationProviders;
  readonly states: FederationStateSealer;
  readonly identities: Pick<UserCommands, 'linkedUser' | 'linkIdentity'>;
  /** Set when the platform allows account creation (FEDERATED_ONBOARDING): unknown federated users are handed to onboarding. */
  readonly onboarding?: Onboarding;
}

import type { PasswordPolicyQueries } from '../../projections/password-policies/projection.js';

export interface OidcDependencies {
  readonly issuer: string;
  readonly keys: SigningKeys;
  readonly tokens: TokenService;
  readonly clients: ClientDirectory;
  readonly users: UserDirectory;
  readonly credentials: CredentialCommands;
  readonly sessions: SessionQueries;
  /** What bearer checks found, until the token expires or an event changes it (fed by the projection runner). */
  readonly liveTokens: LiveTokens;
  readonly writes: WriteContext;
  readonly rejections: LoginFlowRejections;
  /** Rejected client authentication at the token, introspection and revocation endpoints (client.authentication.failed, sampled). */
  readonly denials?: AuditDenials;
  /** Successful logins (user.login.succeeded) and the single use of federated states. */
  readonly logins: LoginRecords;
  /** Set: logins may go to upstream identity providers. */
  readonly federation?: FederationDependencies;
  /** Ends a user's sessions when trust ends (a new password chosen in the login flow). */
  readonly endSessions: Pick<SessionEnder, 'ofUser'>;
  /** Rate limits and progressive delays for password and token requests. */
  readonly throttle: LoginThrottle;
  /** The organizations' password policies: maximum_password_attempts sets the free failures before delays (docs/password-policy.md). */
  readonly passwordPolicies?: Pick<PasswordPolicyQueries, 'effective'>;
  /** The client certificate a request presents (RFC 8705): over our TLS, or forwarded by a trusted proxy. */
  readonly certificates: Pick<ClientCertificates, 'of'>;
  /** Set when certificates can reach the service (TLS or a proxy header): where the mTLS endpoints are (discovery's aliases). */
  readonly mtlsIssuer?: string;
}

export const formField = z.string().max(4096).optional();

/** These endpoints are public as far as bearer tokens go, but authenticate the client: document their 401. */
export const CLIENT_AUTHENTICATION_FAILED = { description: 'Client authentication failed (invalid_client).', schema: errorBodySchema };

export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
/** The login pages take passwords: never cached, and never framed by another site (clickjacking). */
export const PAGE_HEADERS = { ...NO_STORE, 'X-Frame-Options': 'DENY', 'Content-Security-Policy': "frame-ancestors 'none'" };
export const PKCE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
export const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** Redirect back to the client with an error, as RFC 6749 4.1.2.1 and RFC 9207 (iss) say. */
export function redirectWithParameters(redirectUri: string, parameters: Record<string, string | undefined>): RouteReply {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(parameters)) if (value !== undefined) url.searchParams.set(name, value);
  return { status: 302, redirect: url.toString(), headers: NO_STORE };
}

export const htmlError = (status: number, title: string, message: string): RouteReply => ({ status, html: errorPage(title, message), headers: PAGE_HEADERS });
export const htmlPage = (html: string, status = 200, headers: Readonly<Record<string, string>> = {}): RouteReply => ({
  status,
  html,
  headers: { ...PAGE_HEADERS, ...headers },
});


/** Command metadata for what the provider records on behalf of a user or client. */
export const systemMeta = (writes: WriteContext, req: Request, subject: string, kind: 'user' | 'application', principalId?: string) =>
  writes.meta({ subject, kind, platformAdministrator: false, ...(principalId !== undefined && { principalId }) }, (req as Request & { id: string }).id);
