import { isIP } from 'node:net';
import { passwordPolicySchema } from './domain/credentials/password-policy.js';
import { z } from 'zod';
import { literalUrlProblem } from './infra/net/address-guard.js';
import { OAUTH2_PROVIDER_TYPES } from './domain/identity-provider/events.js';
import { KUBERNETES_LABEL_VALUE } from './domain/shared/resource.js';

/** "true" or "false" (also 1/0, yes/no); unset or empty takes the default. */
const booleanEnv = z.preprocess(
  (v) => (v === '' ? undefined : typeof v === 'string' ? v.toLowerCase() : v),
  z.enum(['true', 'false', '1', '0', 'yes', 'no']).optional().transform((v) => (v === undefined ? undefined : ['true', '1', 'yes'].includes(v))),
);

const optionalString = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());

/** A variable holding JSON that the schema then checks; unset or empty is undefined. `shape` names what is expected. */
const jsonEnv = <T extends z.ZodType>(schema: T, shape: string) =>
  z.preprocess((value, ctx) => {
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be ${shape}` });
      return z.NEVER;
    }
  }, schema);

/** An IP address, or an IPv4/IPv6 CIDR (10.0.0.0/8, fd00::/8). */
const isAddressOrCidr = (entry: string): boolean => {
  const [address = '', prefix, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128));
};

export const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  DATA_DIR: z.string().min(1).default('./data'),
  /** The public base URL of this service, used as the OIDC issuer. */
  ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Set: events go to EventStoreDB instead of SQLite. */
  EVENTSTORE_CONNECTION_STRING: optionalString.pipe(z.string().startsWith('esdb', 'must be an esdb:// or esdb+discover:// URL').optional()),
  /** Set: events, checkpoints, snapshots and Idempotency-Key records go to PostgreSQL (docs/postgres.md), shared by every instance. */
  DATABASE_URL: optionalString.pipe(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional()),
  /** Set: read models live in MongoDB instead of memory. */
  MONGODB_URL: optionalString.pipe(z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// URL').optional()),
  /** Where the master secret and the signing keys live: one folder every instance mounts (docs/cluster.md). Default DATA_DIR. */
  SHARED_SECRETS_DIR: optionalString,
  /** With DATABASE_URL: `job`, a lease per background job (spread over instances); `all`, one lease for every job. */
  LEASE_SCOPE: z.enum(['job', 'all']).default('job'),
  /** Set: this bearer token is the platform administrator's. Unset: one is generated on first start. */
  IDENTITY_BOOTSTRAP_TOKEN: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  /** How long a write waits for the read models to apply its events. */
  PROJECTION_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  /**
   * The resource kinds organizations have quotas of, as a JSON array of
   * {kind, displayName, description, default}; an organization has `default`
   * of a kind until its quota is set. Read it as Config['QUOTA_DEFAULTS'].
   */
  QUOTA_DEFAULTS: jsonEnv(
    z
      .array(
        z
          .object({
            kind: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a lower-case name of at most 63 characters'),
            displayName: z.string().min(1).max(256),
            description: z.string().max(1024),
            default: z.number().int().min(0).max(1_000_000_000),
          })
          .strict(),
      )
      .min(1)
      .max(64)
      .refine((kinds) => new Set(kinds.map((k) => k.kind)).size === kinds.length, 'kinds must be unique')
      .optional(),
    'a JSON array of {kind, displayName, description, default}',
  ).transform(
    (kinds) =>
      kinds ?? [
        { kind: 'clusters', displayName: 'Kubernetes Clusters', description: 'All Kubernetes cluster types, these consume resources (servers, GPUs) as well.', default: 5 },
        { kind: 'servers', displayName: 'Servers', description: 'All servers, whether they are part of a cluster or standalone.', default: 20 },
        { kind: 'gpus', displayName: 'GPUs', description: 'Graphics processing units attached to servers.', default: 0 },
      ],
  ),
  /** How many days a service account's access token is valid, from its creation or rotation. */
  SERVICE_ACCOUNT_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  /** How long an account's API key (docs/accounts.md) is valid from its generation, in seconds (default 90 days). */
  API_KEY_LIFETIME_SECONDS: z.coerce.number().int().min(1).max(10 * 365 * 86_400).default(90 * 86_400),
  /**
   * The platform's built-in identity providers (GET /api/v1/oauth2providers),
   * as a JSON array of {id, name, description?, type, issuer, clientID}, e.g.
   * [{"id":"google","name":"google","type":"google","issuer":"https://accounts.google.com","clientID":"1234.apps.googleusercontent.com"}].
   * Default: none, because a client ID only exists once the platform has been
   * registered with the provider. No secrets here: anyone signed in may list them.
   */
  OAUTH2_PROVIDERS: jsonEnv(
    z
      .array(
        z
          .object({
            id: z.string().regex(/^[A-Za-z0-9][-A-Za-z0-9_.]{0,127}$/, 'must be 1-128 characters: alphanumerics and - _ .'),
            name: z.string().regex(KUBERNETES_LABEL_VALUE, 'must be a Kubernetes label value'),
            description: z.string().max(1024).optional(),
            type: z.enum(OAUTH2_PROVIDER_TYPES),
            issuer: z.url({ protocol: /^https?$/ }),
            clientID: z.string().min(1).max(512),
            /** The name of an environment variable holding the provider's client secret (read at start, never logged); unset: a public client. */
            clientSecretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name').optional(),
          })
          .strict(),
      )
      .max(64)
      .refine((providers) => new Set(providers.map((p) => p.id)).size === providers.length, 'ids must be unique')
      .default(() => []),
    'a JSON array of {id, name, description?, type, issuer, clientID, clientSecretEnv?}',
  ),
  /** Lifetime of access tokens (JWTs), in seconds. */
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(600),
  /** Lifetime of ID tokens, in seconds. */
  ID_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(3_600),
  /** Lifetime of authorization codes, in seconds. */
  AUTHORIZATION_CODE_TTL_SECONDS: z.coerce.number().int().min(5).max(600).default(60),
  /**
   * A refresh token rotated away less than this many seconds ago, whose
   * successor is unused, is refused without revoking the session (a client's
   * own concurrent or retried request). 0: every reuse revokes the session.
   */
  REFRESH_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).max(300).default(0),
  /** Refresh tokens end this many seconds after the login that started their session (default 90 days)... */
  REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS: z.coerce.number().int().min(1).max(10 * 365 * 86_400).default(90 * 86_400),
  /** ...or this many seconds after their last rotation (default 30 days). */
  REFRESH_TOKEN_IDLE_LIFETIME_SECONDS: z.coerce.number().int().min(1).max(10 * 365 * 86_400).default(30 * 86_400),
  /** Password requests (login, own password change) one source address may make per minute, and at once. */
  THROTTLE_SOURCE_REQUESTS_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(60),
  /** Token-endpoint requests one source address may make per minute, and at once (a client's backend refreshes for all its users). */
  THROTTLE_TOKEN_REQUESTS_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(1200),
  /** Failed passwords for one account from one source before each further one doubles the wait (1 s, 2 s, 4 s, ...). */
  THROTTLE_SOURCE_FREE_FAILURES: z.coerce.number().int().min(1).max(1000).default(5),
  /** Failed passwords for one account from all the sources it has not signed in from, before those wait too. */
  THROTTLE_ACCOUNT_FREE_FAILURES: z.coerce.number().int().min(1).max(100_000).default(50),
  /** The longest wait after failures, in seconds (nothing is ever locked for longer). */
  THROTTLE_MAX_DELAY_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  /** Password hashes (about a second of a thread each) that run at once... */
  PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /** ...and that may wait; beyond that a login is answered 503 with Retry-After at once. */
  PASSWORD_HASH_QUEUE: z.coerce.number().int().min(0).max(10_000).default(8),
  /**
   * Identity providers may sit on private, loopback or link-local addresses
   * (an on-premises Keycloak). Off by default: an issuer a tenant registers
   * is where this service will send requests, so internal targets are refused.
   */
  IDENTITY_PROVIDER_ALLOW_PRIVATE_NETWORKS: booleanEnv.default(false),
  /**
   * HTTPS (RFC 8705 mutual TLS): the server's certificate chain and key, PEM files. Both set: the
   * service listens with TLS and asks clients for a certificate (never requires one); neither: plain HTTP.
   */
  TLS_CERT_FILE: optionalString,
  TLS_KEY_FILE: optionalString,
  /** The CA certificates (PEM) tls_client_auth client certificates must chain to; unset: no certificate is chain-verified. */
  TLS_CLIENT_CA_FILE: optionalString,
  /**
   * Behind a TLS-terminating proxy: the request header carrying the client's certificate as
   * URL-encoded PEM (nginx: proxy_set_header X-Client-Cert $ssl_client_escaped_cert). Read only
   * from TRUSTED_PROXIES; unset: no header is read.
   */
  CLIENT_CERT_HEADER: optionalString.pipe(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name').transform((name) => name.toLowerCase()).optional()),
  /** The proxies (comma-separated IPs or CIDRs, e.g. 10.0.0.0/8,::1) whose CLIENT_CERT_HEADER is believed. */
  TRUSTED_PROXIES: z
    .string()
    .default('')
    .transform((value) => value.split(',').map((entry) => entry.trim()).filter(Boolean))
    .refine((entries) => entries.every(isAddressOrCidr), 'must be comma-separated IP addresses or CIDRs'),
  /** Where clients reach the mTLS endpoints (discovery's mtls_endpoint_aliases); default: ISSUER, the same host. */
  MTLS_ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  /**
   * Long-lived streams (an organization's resource ledger, groups) get a
   * snapshot beside the stream once this many events were appended since the
   * last one, so a load reads at most this many events after it.
   */
  SNAPSHOT_EVERY: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  /** How many of those streams' states the command side keeps in memory (least recently used dropped first). */
  SNAPSHOT_CACHED_STREAMS: z.coerce.number().int().min(0).max(1_000_000).default(1000),
  /** Reads as of a moment (asOf) replay the organization's events up to it: at most this many per past state, else a 400 saying so. */
  /** Audit exports streaming at once on one instance, and per caller (more answer 429). */
  AUDIT_EXPORTS_MAX: z.coerce.number().int().min(1).max(1000).default(4),
  AUDIT_EXPORTS_PER_CALLER: z.coerce.number().int().min(1).max(100).default(1),
  TIME_TRAVEL_MAX_EVENTS: z.coerce.number().int().min(1).max(1_000_000_000).default(2_000_000),
  /** How many built past states are kept in memory (least recently used dropped first); 0 keeps none. */
  TIME_TRAVEL_CACHED_MODELS: z.coerce.number().int().min(0).max(1000).default(4),
  /**
   * Extra CA certificates (a PEM file) that identity providers' TLS may chain
   * to, beside the system's: an on-premises provider with a private CA (the tests' upstream).
   */
  IDENTITY_PROVIDER_CA_FILE: optionalString,
  /** How long one request to an identity provider (discovery, keys, code exchange) may take, in milliseconds. */
  IDENTITY_PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** The largest answer accepted from an identity provider, in bytes. */
  IDENTITY_PROVIDER_MAX_RESPONSE_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
  /** Sign-up with email verification: users created through the API start pending and are mailed a single-use link that activates them. Needs SMTP_URL. */
  SIGNUP_EMAIL_VERIFICATION: booleanEnv.default(false),
  /** How long a sign-up link works. */
  SIGNUP_LINK_TTL_HOURS: z.coerce.number().int().min(1).max(24 * 30).default(24),
  /** The SMTP server mail goes through: smtp://user:password@host:587 (STARTTLS when offered) or smtps://host:465. Never logged. */
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
  /** The From address of the service's mail; default: no-reply@<the issuer's host>. */
  MAIL_FROM: z.string().min(3).max(320).optional(),
  /**
   * The in-memory read models (no MONGODB_URL) are saved to
   * DATA_DIR/read-models.snapshot with the log position they stand at, and a
   * start loads them and applies only the events after it. false: neither
   * saved nor loaded (every start folds the whole log).
   */
  READ_MODEL_SNAPSHOTS: booleanEnv.default(true),
  /** How often, in seconds, that snapshot is saved when the read models moved since the last one; 0: only at shutdown. */
  READ_MODEL_SNAPSHOT_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
  /**
   * Retention (docs/retention.md): a session generation's token rotations (and a superseded
   * client-credentials start) are removed this long after the generation ended (superseded,
   * revoked or expired). Logins and revocations stay. Default 7 days.
   */
  SESSION_EVENT_RETENTION_SECONDS: z.coerce.number().int().min(0).max(10 * 365 * 86_400).default(7 * 86_400),
  /** User-activity events older than this are removed but the newest (lastActive). Default 1 day. */
  USER_ACTIVITY_RETENTION_SECONDS: z.coerce.number().int().min(0).max(10 * 365 * 86_400).default(86_400),
  /** A user's login records and a client's sampled login refusals older than this are removed (the newest of each stream stays): the audit window. 0: kept forever. Default 400 days. */
  LOGIN_RECORD_RETENTION_SECONDS: z.coerce.number().int().min(0).max(100 * 365 * 86_400).default(400 * 86_400),
  /** How often the embedded store's scavenger applies retention (replacing removed events by tombstones); 0: never (run `npm run scavenge`). Default hourly. */
  RETENTION_SCAVENGE_SECONDS: z.coerce.number().int().min(0).max(30 * 86_400).default(3600),
  /**
   * Client credentials: a token asked for within this long of the start of the client's live
   * session generation joins it (same sid, no event appended); 0: each token starts a new
   * generation that supersedes the previous one. Default 1 hour.
   */
  CLIENT_CREDENTIALS_SESSION_SECONDS: z.coerce.number().int().min(0).max(86_400).default(3600),
  /**
   * The platform allows account creation: a federated user with no account, signing in to a platform
   * application that has an onboardingURI, is handed there to make an organization (POST /oauth2/v2/onboard).
   */
  FEDERATED_ONBOARDING: booleanEnv.default(false),
  /**
   * The verifiable log (docs/ledger.md): a signed tree head at least every this many new events,
   * or every LEDGER_TREE_HEAD_SECONDS when anything was written. Defaults 1,000 events, 60 s.
   */
  LEDGER_TREE_HEAD_EVENTS: z.coerce.number().int().min(1).max(10_000_000).default(1000),
  LEDGER_TREE_HEAD_SECONDS: z.coerce.number().min(0.05).max(86_400).default(60),
  /**
   * Read-your-writes (docs/operations.md): a request carrying X-Min-Log-Position waits at most this long for this
   * instance's read models to reach it, then answers 503.
   */
  READ_YOUR_WRITES_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  /** /readyz answers 503 while the read models are more than this many events behind the log's head; 0: no such check. */
  READY_MAX_LAG_EVENTS: z.coerce.number().int().min(0).max(1_000_000_000).default(10_000),
  /** GET /metrics on the public port with `Authorization: Bearer <METRICS_TOKEN>`; unset: not served there. */
  METRICS_TOKEN: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  /** GET /metrics without authentication on this separate port (keep it off the public network); unset: no such listener. */
  METRICS_PORT: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(65535).optional()),
  /**
   * The platform's password policy (seed 002's object, any of its fields; docs/password-policy.md): it applies in every
   * organization without an enabled policy of its own. Unset fields: 12 characters, no other rule, no reuse check, and
   * THROTTLE_SOURCE_FREE_FAILURES attempts.
   */
  PASSWORD_POLICY_DEFAULT: jsonEnv(passwordPolicySchema.partial().strict().optional(), 'a JSON object with fields of the password policy'),
  // [config]
})
  .superRefine((config, ctx) => {
    if (config.DATABASE_URL !== undefined && config.EVENTSTORE_CONNECTION_STRING !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: 'set DATABASE_URL or EVENTSTORE_CONNECTION_STRING, not both: the log lives in one engine' });
    }
    if (config.SIGNUP_EMAIL_VERIFICATION && config.SMTP_URL === undefined) {
      ctx.addIssue({ code: 'custom', path: ['SMTP_URL'], message: 'is required when SIGNUP_EMAIL_VERIFICATION is on: the links go out by mail' });
    }
    // The platform's own providers follow the same rule as tenants' (without DNS: configuration is read synchronously).
    config.OAUTH2_PROVIDERS.forEach((provider, index) => {
      const problem = literalUrlProblem(provider.issuer, { allowPrivateNetworks: config.IDENTITY_PROVIDER_ALLOW_PRIVATE_NETWORKS });
      if (problem) ctx.addIssue({ code: 'custom', path: ['OAUTH2_PROVIDERS', index, 'issuer'], message: problem });
    });
  });

type ParsedConfig = z.infer<typeof configSchema>;
/** A platform provider; `clientSecret` reads the secret its clientSecretEnv names (a function: JSON and logs never see it). */
export type PlatformProvider = ParsedConfig['OAUTH2_PROVIDERS'][number] & { readonly clientSecret?: () => string };
export type Config = Omit<ParsedConfig, 'OAUTH2_PROVIDERS'> & { ISSUER: string; OAUTH2_PROVIDERS: PlatformProvider[] };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Read and validate the configuration; a bad value stops the start with a message naming it. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`).join('\n');
    throw new ConfigError(`invalid configuration:\n${problems}`);
  }
  const config = parsed.data;
  if ((config.TLS_CERT_FILE === undefined) !== (config.TLS_KEY_FILE === undefined)) {
    throw new ConfigError('invalid configuration:\n  TLS_CERT_FILE, TLS_KEY_FILE: set both or neither');
  }
  const providers: PlatformProvider[] = config.OAUTH2_PROVIDERS.map((provider) => {
    if (provider.clientSecretEnv === undefined) return provider;
    const secret = env[provider.clientSecretEnv];
    if (!secret) throw new ConfigError(`invalid configuration:\n  OAUTH2_PROVIDERS: ${provider.id}'s clientSecretEnv names ${provider.clientSecretEnv}, which is not set`);
    return { ...provider, clientSecret: () => secret };
  });
  const issuer = (config.ISSUER ?? `${config.TLS_CERT_FILE ? 'https' : 'http'}://localhost:${config.PORT}`).replace(/\/$/, '');
  return { ...config, OAUTH2_PROVIDERS: providers, ISSUER: issuer, MTLS_ISSUER: config.MTLS_ISSUER?.replace(/\/$/, '') };
}
