import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError, ForbiddenError, InvalidCommandError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { ApplicationEvent, GrantType, Jwks } from './events.js';
import {
  credentialKind,
  defaultAuthMethod,
  TLS_CLIENT_AUTH_FIELDS,
  type TlsClientAuthIdentity,
  tlsClientAuthProblem,
  type TokenEndpointAuthMethod,
} from './tls-client-auth.js';

/** An application's writable state: its metadata and its spec (with, for tls_client_auth, the one field naming its certificate). */
export interface ApplicationSettings extends TlsClientAuthIdentity {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly redirectURIs: readonly string[];
  readonly grantTypes: readonly GrantType[];
  /** A public client (SPA, CLI) has no secret and must use PKCE. */
  readonly public: boolean;
  /** A disabled application logs nobody in and gets no tokens. */
  readonly enabled: boolean;
  /** Groups of its organization, whose roles it holds with client_credentials. */
  readonly groupIDs: readonly string[];
  /** A first-party application (console, CLI): accepts users of every organization. */
  readonly platform: boolean;
  /** An https page of the application's own that offers the ways to sign in (identity providers) and posts back to /oauth2/v2/login. */
  readonly loginURI?: string;
  /** How it authenticates at the token endpoint; unset: client_secret_basic, or none for a public client. */
  readonly tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** self_signed_tls_client_auth: the public keys (JWKs, with or without x5c) its certificate may carry... */
  readonly jwks?: Jwks;
  /** ...or the certificates themselves, in PEM. */
  readonly tlsClientCertificates?: readonly string[];
  /** Its home page: where a completed sign-up lands. */
  readonly homeURI?: string;
  /** Where a sign-up link that failed sends the user, with `error` and `error_description`. */
  readonly errorURI?: string;
  /** Where a federated user with no account is handed, to choose an organization (see POST /oauth2/v2/onboard). */
  readonly onboardingURI?: string;
}

/** The application's own pages the service sends people to: absolute https URLs (http only on loopback), like redirect URIs. */
export const APPLICATION_PAGE_FIELDS = ['homeURI', 'errorURI', 'onboardingURI'] as const;

/** The method an application authenticates with, also for those registered before methods existed. */
export const authMethodOf = (settings: Pick<ApplicationSettings, 'tokenEndpointAuthMethod' | 'public'>): TokenEndpointAuthMethod =>
  settings.tokenEndpointAuthMethod ?? defaultAuthMethod(settings.public);

/** The optional settings: an update that leaves one out removes it. */
const OPTIONAL_SETTINGS = ['description', 'tokenEndpointAuthMethod', ...TLS_CLIENT_AUTH_FIELDS, 'jwks', 'tlsClientCertificates', ...APPLICATION_PAGE_FIELDS] as const;

export type ApplicationState =
  | { readonly status: 'absent' }
  | ({
      readonly status: 'active';
      readonly id: string;
      readonly organizationId: string;
      /** How many events the stream holds: a PATCH names the version it was computed from. */
      readonly version: number;
      readonly hasSecret: boolean;
    } & ApplicationSettings)
  | { readonly status: 'deleted'; readonly id: string; readonly organizationId: string; readonly name: string };

export type ActiveApplication = Extract<ApplicationState, { status: 'active' }>;

export const applicationDecider: Decider<ApplicationState, ApplicationEvent> = {
  initialState: () => ({ status: 'absent' }),
  evolve(state, event) {
    switch (event.type) {
      case 'application.created': {
        const { applicationId, organizationId, secretSha256, ...settings } = event.data;
        return { status: 'active', id: applicationId, organizationId, version: 1, hasSecret: secretSha256 !== undefined, ...definedOnly(settings) };
      }
      case 'application.updated': {
        if (state.status !== 'active') return state;
        const { applicationId: _id, organizationId: _org, ...settings } = event.data;
        // Spread over the old state without its optional settings, so that an absent one does not linger.
        const rest: Record<string, unknown> = { ...state };
        for (const key of OPTIONAL_SETTINGS) delete rest[key];
        return { ...(rest as unknown as typeof state), ...definedOnly(settings), version: state.version + 1 };
      }
      case 'application.secret.rotated':
        return state.status === 'active' ? { ...state, hasSecret: true, version: state.version + 1 } : state;
      case 'application.deleted':
        return { status: 'deleted', id: event.data.applicationId, organizationId: event.data.organizationId, name: event.data.name };
      default:
        return assertNever(event);
    }
  },
};

/** The object without its undefined members (an event parsed by zod has none; one built in code may). */
function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, member]) => member !== undefined)) as T;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Why a redirect URI is refused, or undefined when it is fine. Redirect URIs
 * are compared as registered, so they must be written out in full: https, or
 * plain http only on the loopback interface (development, native apps, RFC 8252).
 */
export function redirectUriProblem(uri: string): string | undefined {
  // The URL parser would quietly trim or drop these, and the exact match at login would then differ.
  if (/[\s\x00-\x1f\x7f]/.test(uri)) return 'must not contain whitespace or control characters';
  if (uri.includes('#')) return 'must not contain a fragment';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'must be an absolute URL';
  }
  if (!/^https?:\/\//i.test(uri)) return 'must be an absolute https URL (http only for localhost, 127.0.0.1 or [::1])';
  if (url.protocol === 'https:') return undefined;
  if (LOOPBACK_HOSTS.has(url.hostname)) return undefined;
  return 'must use https (plain http is allowed only for localhost, 127.0.0.1 and [::1])';
}

/** The rules an application's settings obey, whoever writes them. */
export function validateApplicationSettings(settings: ApplicationSettings): void {
  const grants = new Set(settings.grantTypes);
  if (grants.size === 0) throw new InvalidCommandError('spec.grantTypes: at least one grant type is required');
  if (grants.has('refresh_token') && !grants.has('authorization_code')) {
    throw new InvalidCommandError('spec.grantTypes: refresh_token is allowed only together with authorization_code');
  }
  if (grants.has('client_credentials') && settings.public) {
    throw new InvalidCommandError('spec.grantTypes: client_credentials is allowed only for confidential applications (public: false)');
  }
  for (const uri of settings.redirectURIs) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new InvalidCommandError(`spec.redirectURIs: "${uri}" ${problem}`);
  }
  if (grants.has('authorization_code') && settings.redirectURIs.length === 0) {
    throw new InvalidCommandError('spec.redirectURIs: at least one redirect URI is required with authorization_code');
  }
  for (const field of APPLICATION_PAGE_FIELDS) {
    const uri = settings[field];
    const problem = uri === undefined ? undefined : redirectUriProblem(uri);
    if (problem) throw new InvalidCommandError(`spec.${field}: "${uri}" ${problem}`);
  }
  if (settings.loginURI !== undefined) {
    const problem = redirectUriProblem(settings.loginURI) ?? (settings.loginURI.startsWith('https://') ? undefined : 'must be an https URL');
    if (problem) throw new InvalidCommandError(`spec.loginURI: ${problem}`);
  }
  validateClientAuthentication(settings);
}

/** The token endpoint authentication method and what it needs (RFC 8705 for the certificate methods). */
function validateClientAuthentication(settings: ApplicationSettings): void {
  const method = authMethodOf(settings);
  if (settings.public !== (method === 'none')) {
    throw new InvalidCommandError(
      settings.public
        ? 'spec.tokenEndpointAuthMethod: a public application authenticates with none (it has no secret and no certificate)'
        : 'spec.tokenEndpointAuthMethod: none is only for public applications (public: true)',
    );
  }
  const identityFields = TLS_CLIENT_AUTH_FIELDS.filter((field) => settings[field] !== undefined);
  const selfSigned = (settings.jwks?.keys.length ?? 0) + (settings.tlsClientCertificates?.length ?? 0);
  if (method === 'tls_client_auth') {
    const problem = tlsClientAuthProblem(settings);
    if (problem) throw new InvalidCommandError(`spec: ${problem}`);
  } else if (identityFields.length > 0) {
    throw new InvalidCommandError(`spec.${identityFields[0]}: only with tokenEndpointAuthMethod tls_client_auth`);
  }
  if (method === 'self_signed_tls_client_auth') {
    if (selfSigned === 0) throw new InvalidCommandError('spec.jwks: self_signed_tls_client_auth needs at least one key in jwks or one certificate in tlsClientCertificates');
  } else if (settings.jwks !== undefined || settings.tlsClientCertificates !== undefined) {
    throw new InvalidCommandError('spec.jwks, spec.tlsClientCertificates: only with tokenEndpointAuthMethod self_signed_tls_client_auth');
  }
}

/**
 * A platform application accepts users of every organization, so only a
 * platform administrator may make one, or change one: an organization's
 * administrator adding a redirect URI to it could otherwise collect every
 * organization's logins.
 */
function checkPlatform(platformAdministrator: boolean, applicationId: string, ...platform: boolean[]): void {
  if (platform.some(Boolean) && !platformAdministrator) {
    throw new ForbiddenError(`application ${applicationId}: only a platform administrator may create or change a platform application`);
  }
}

const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];

function stateData(applicationId: string, organizationId: string, settings: ApplicationSettings) {
  const { name, description, tags, redirectURIs, grantTypes, enabled, groupIDs, platform, loginURI, tokenEndpointAuthMethod, jwks, tlsClientCertificates } = settings;
  return {
    applicationId,
    organizationId,
    name,
    ...(description !== undefined && { description }),
    tags: [...tags],
    redirectURIs: unique(redirectURIs),
    grantTypes: unique(grantTypes),
    public: settings.public,
    enabled,
    groupIDs: unique(groupIDs),
    platform,
    ...(loginURI !== undefined && { loginURI }),
    ...(tokenEndpointAuthMethod !== undefined && { tokenEndpointAuthMethod }),
    ...Object.fromEntries(TLS_CLIENT_AUTH_FIELDS.filter((field) => settings[field] !== undefined).map((field) => [field, settings[field]!])),
    ...(jwks !== undefined && { jwks }),
    ...(tlsClientCertificates !== undefined && { tlsClientCertificates: [...tlsClientCertificates] }),
    ...Object.fromEntries(APPLICATION_PAGE_FIELDS.filter((field) => settings[field] !== undefined).map((field) => [field, settings[field]!])),
  };
}

const settingsKey = (s: ApplicationSettings) =>
  JSON.stringify([
    s.name, s.description ?? null, s.tags, unique(s.redirectURIs), unique(s.grantTypes), s.public, s.enabled, unique(s.groupIDs), s.platform,
    authMethodOf(s), TLS_CLIENT_AUTH_FIELDS.map((field) => s[field] ?? null), s.jwks ?? null, s.tlsClientCertificates ?? null,
    APPLICATION_PAGE_FIELDS.map((field) => s[field] ?? null), s.loginURI ?? null,
  ]);

/** An application of another organization is, to this one, an application that does not exist. */
function activeIn(state: ApplicationState, applicationId: string, organizationId: string): ActiveApplication {
  if (state.status !== 'active' || state.organizationId !== organizationId) throw new NotFoundError(`application ${applicationId} not found`);
  return state;
}

interface Target {
  readonly applicationId: string;
  readonly organizationId: string;
  /** Whether the caller is a platform administrator: only they touch platform applications. */
  readonly platformAdministrator: boolean;
}

export function createApplication(
  state: ApplicationState,
  command: Target & ApplicationSettings & { readonly secretSha256?: string },
): ApplicationEvent[] {
  if (state.status !== 'absent') throw new ConflictError(`application ${command.applicationId} already exists`);
  checkPlatform(command.platformAdministrator, command.applicationId, command.platform);
  validateApplicationSettings(command);
  // The command layer makes the secret; these guard against it being forgotten or misplaced.
  const usesSecret = credentialKind(authMethodOf(command)) === 'secret';
  if (!usesSecret && command.secretSha256 !== undefined) throw new InvalidCommandError(`an application authenticating with ${authMethodOf(command)} has no secret`);
  if (usesSecret && command.secretSha256 === undefined) throw new InvalidCommandError('a confidential application needs a secret');
  return [
    {
      type: 'application.created',
      data: {
        ...stateData(command.applicationId, command.organizationId, command),
        ...(command.secretSha256 !== undefined && { secretSha256: command.secretSha256 }),
      },
    },
  ];
}

export function updateApplication(
  state: ApplicationState,
  command: Target & ApplicationSettings & { readonly expectedVersion?: number },
): ApplicationEvent[] {
  const application = activeIn(state, command.applicationId, command.organizationId);
  checkPlatform(command.platformAdministrator, application.id, application.platform, command.platform);
  if (command.expectedVersion !== undefined && command.expectedVersion !== application.version) {
    throw new ConflictError(`application ${application.id} changed while the request was made; read it again and retry`);
  }
  // Whether a client has a secret decides how it authenticates: a different kind of client is a new application.
  if (command.public !== application.public) {
    throw new InvalidCommandError('spec.public cannot change once the application exists; create a new application instead');
  }
  // Likewise what proves the client (a secret, a certificate): switching would leave it without one.
  const before = credentialKind(authMethodOf(application));
  const after = credentialKind(authMethodOf(command));
  if (before !== after) {
    throw new InvalidCommandError(
      `spec.tokenEndpointAuthMethod: this application authenticates with a ${before}, which cannot change; create a new application instead`,
    );
  }
  validateApplicationSettings(command);
  if (settingsKey(application) === settingsKey(command)) return [];
  return [{ type: 'application.updated', data: stateData(application.id, application.organizationId, command) }];
}

export function rotateApplicationSecret(state: ApplicationState, command: Target & { readonly secretSha256: string }): ApplicationEvent[] {
  const application = activeIn(state, command.applicationId, command.organizationId);
  checkPlatform(command.platformAdministrator, application.id, application.platform);
  if (application.public) throw new InvalidCommandError(`application ${application.id} is public: it has no secret to rotate`);
  if (credentialKind(authMethodOf(application)) !== 'secret') {
    throw new InvalidCommandError(`application ${application.id} authenticates with a certificate: it has no secret to rotate`);
  }
  return [
    {
      type: 'application.secret.rotated',
      data: { applicationId: application.id, organizationId: application.organizationId, secretSha256: command.secretSha256 },
    },
  ];
}

export function deleteApplication(state: ApplicationState, command: Target): ApplicationEvent[] {
  const application = activeIn(state, command.applicationId, command.organizationId);
  checkPlatform(command.platformAdministrator, application.id, application.platform);
  return [{ type: 'application.deleted', data: { applicationId: application.id, organizationId: application.organizationId, name: application.name } }];
}
