import { Onboarding } from './api/oidc/onboarding.js';
import { SignupCommands } from './commands/signup/handlers.js';
import { SmtpMailer } from './infra/mail/smtp-mailer.js';
import { signupProcess } from './processes/signup.js';
import { signupRoutes } from './api/signup/routes.js';
import type { Express } from 'express';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { aclRoutes } from './api/acl/routes.js';
import { createApp } from './api/app.js';
import { AccessControl } from './api/auth/access-control.js';
import { BootstrapCredential } from './api/auth/bootstrap-token.js';
import { healthRoutes } from './api/health/routes.js';
import type { RouteDefinition } from './api/http/route.js';
import type { CredentialResolver } from './api/middleware/authenticate.js';
import { organizationRoutes } from './api/organizations/routes.js';
import { roleRoutes } from './api/roles/routes.js';
import { WriteContext } from './api/write-context.js';
import { OrganizationCommands } from './commands/organization/handlers.js';
import type { Config } from './config.js';
import { preparePrivateDirectory } from './infra/files/private-files.js';
import { MemoryReadModelStore } from './infra/memory/memory-read-models.js';
import { SqliteCheckpointStore } from './infra/sqlite/sqlite-checkpoint-store.js';
import { SqliteEventStore } from './infra/sqlite/sqlite-event-store.js';
import { SqliteIdempotencyStore } from './infra/sqlite/sqlite-idempotency-store.js';
import { Idempotency } from './api/http/idempotency.js';
import type { IdempotencyStore } from './ports/idempotency.js';
import type { CheckpointStore } from './ports/checkpoints.js';
import type { EventStore } from './ports/event-store.js';
import type { ReadModelStore } from './ports/read-models.js';
import { groupRemovalProcess } from './processes/group-removal.js';
import { OrganizationChildren } from './processes/organization-children.js';
import { organizationDeletionProcess } from './processes/organization-deletion.js';
import { type ProcessDefinition, ProcessManagerRunner } from './processes/process-manager.js';
import { provisioningProcess } from './processes/provisioning.js';
import { ReadModelSync } from './processes/read-model-sync.js';
import { SessionEnder, sessionRevocationProcess } from './processes/session-revocation.js';
import type { Projection } from './projections/projection.js';
import { organizationsProjection } from './projections/organizations/projection.js';
import { OrganizationQueries } from './projections/organizations/queries.js';
import { ProjectionRunner } from './projections/runner.js';
import { groupRoutes } from './api/groups/routes.js';
import { userRoutes } from './api/users/routes.js';
import { GroupCommands } from './commands/group/handlers.js';
import { UserCommands } from './commands/user/handlers.js';
import { userIdentityRoutes } from './api/users/identity-routes.js';
import { groupsProjection } from './projections/groups/projection.js';
import { GroupQueries } from './projections/groups/queries.js';
import { usersProjection } from './projections/users/projection.js';
import { UserQueries } from './projections/users/queries.js';
import { allocationRoutes } from './api/allocations/routes.js';
import { projectRoutes } from './api/projects/routes.js';
import { quotaRoutes } from './api/quotas/routes.js';
import { ProjectCommands } from './commands/project/handlers.js';
import { ResourceLedgerCommands } from './commands/quota/handlers.js';
import { projectDeletionProcess } from './processes/project-deletion.js';
import { allocationsProjection } from './projections/allocations/projection.js';
import { AllocationQueries } from './projections/allocations/queries.js';
import { projectsProjection } from './projections/projects/projection.js';
import { ProjectQueries } from './projections/projects/queries.js';
import { quotasProjection } from './projections/quotas/projection.js';
import { QuotaQueries } from './projections/quotas/queries.js';
import { identityProviderRoutes } from './api/identity-providers/routes.js';
import { serviceAccountCredentials } from './api/service-accounts/credentials.js';
import { serviceAccountRoutes } from './api/service-accounts/routes.js';
import { IdentityProviderCommands } from './commands/identity-provider/handlers.js';
import { ServiceAccountCommands } from './commands/service-account/handlers.js';
import { SecretSealer } from './infra/secrets/sealer.js';
import { identityProvidersProjection } from './projections/identity-providers/projection.js';
import { IdentityProviderQueries, SystemProviderQueries } from './projections/identity-providers/queries.js';
import { serviceAccountCredentialsProjection, serviceAccountsProjection } from './projections/service-accounts/projection.js';
import { ServiceAccountQueries } from './projections/service-accounts/queries.js';
import { applicationRoutes } from './api/applications/routes.js';
import { ApplicationCommands } from './commands/application/handlers.js';
import { applicationCredentialsProjection, applicationsProjection } from './projections/applications/projection.js';
import { ApplicationQueries } from './projections/applications/queries.js';
import { accessTokenCredential, oidcRoutes } from './api/oidc/routes.js';
import { UserDirectory } from './api/oidc/user-directory.js';
import { CredentialCommands } from './commands/credentials/handlers.js';
import { TokenService } from './commands/oauth/token-service.js';
import { SigningKeys } from './infra/keys/signing-keys.js';
import { LedgerBuilder } from './infra/ledger/ledger-builder.js';
import { SqliteMerkleTree } from './infra/ledger/sqlite-merkle-tree.js';
import { TreeHeads } from './processes/tree-heads.js';
import { ledgerRoutes } from './api/ledger/routes.js';
import { SessionQueries, sessionsProjection } from './projections/sessions/projection.js';
import { credentialRoutes } from './api/credentials/routes.js';
import { compatUserRoutes } from './api/compat/runai/user-routes.js';
import { CompatUserQueries } from './api/compat/runai/users.js';
import { CompatTenancy } from './api/compat/tenancy.js';
import { k8sRoutes } from './api/compat/runai/k8s-routes.js';
import { compatAppRoutes } from './api/compat/runai/app-routes.js';
import { RoleGroups } from './api/compat/runai/role-groups.js';
import { authUserRoutes } from './api/compat/auth/user-routes.js';
import { LoginFlowRejections } from './commands/login-flow/rejections.js';
import { AuditDenials } from './commands/audit/denials.js';
import { LoginRecords } from './commands/login-flow/logins.js';
import { UpstreamClients } from './infra/oidc-rp/upstream.js';
import { FederationProviders } from './api/oidc/federation-providers.js';
import { FederationStateSealer } from './api/oidc/federation-state.js';
import { StreamStates } from './commands/stream-states.js';
import { SqliteSnapshotStore } from './infra/sqlite/sqlite-snapshot-store.js';
import { NoSnapshots, type SnapshotStore } from './ports/snapshots.js';
import { LoginThrottle } from './api/auth/login-throttle.js';
import { configurePasswordHashing } from './infra/crypto/passwords.js';
import { EvolvingEventStore } from './infra/events/evolving-event-store.js';
import { RetentionScavenger, retentionSettings } from './infra/events/retention-scavenger.js';
import { nativeRetention } from './domain/retention.js';
import { UnreadableEvents } from './infra/events/unreadable-events.js';
import { readFileSync } from 'node:fs';
import { ClientCertificates, trustedProxyList } from './api/middleware/client-certificate.js';
import { readPemBundle } from './infra/tls/certificate.js';
import { READ_MODEL_SNAPSHOT_FILE, ReadModelSnapshots } from './infra/memory/read-model-snapshot.js';
import { KeyedIdPool } from './infra/crypto/keyed-id-pool.js';
import { PersonKeys } from './infra/crypto/person-keys.js';
import { PersonalDataCipher } from './infra/events/encrypting-event-store.js';
import { eventReader } from './domain/upcasting.js';
import { ErasureHooks, UserErasure } from './commands/user/erasure.js';
import { userErasureRoutes } from './api/users/erasure-routes.js';
import { SqliteAuditIndex } from './infra/sqlite/sqlite-audit-index.js';
import { AuditCommands } from './commands/audit/handlers.js';
import { auditRoutes } from './api/audit/routes.js';
import { ReadersAuditLog } from './infra/audit/readers-audit-log.js';
import type { AuditLog } from './ports/audit-log.js';
import { ReadModelSwitch } from './projections/read-model-switch.js';
import { LiveTokens } from './projections/sessions/live-tokens.js';
import { KnownClients } from './projections/sessions/known-clients.js';
import { TimeTravel } from './projections/time-travel.js';
import { ResourceHistory } from './projections/resource-history.js';
import { historyRoutes } from './api/history/routes.js';
import { appendObserver, eventsBehind, setLeaseHeld, trackProcessLag, trackProjectionLag } from './infra/metrics/metrics.js';
import { readYourWrites } from './api/middleware/read-your-writes.js';
import { apiKeyCredentialsProjection } from './projections/api-keys/projection.js';
import { accountRoutes } from './api/compat/accounts/routes.js';
import { AccountCommands } from './commands/user/accounts.js';
import { ApiKeyCommands } from './commands/api-key/handlers.js';
import { apiKeyCredentials } from './api/middleware/api-key.js';
import { passwordPoliciesProjection, PasswordPolicyQueries } from './projections/password-policies/projection.js';
import { passwordPolicyRoutes } from './api/password-policy/routes.js';
import { BUILT_IN_PASSWORD_POLICY } from './commands/credentials/handlers.js';
import type { PasswordPolicy } from './domain/credentials/password-policy.js';
import { InProcessLeases, type Leases } from './ports/lease.js';
import { type Job, LeasedJob } from './processes/leased-job.js';
import type { PersonKeyStore } from './infra/crypto/person-keys.js';
import { KeysPreparedEventStore } from './infra/events/encrypting-event-store.js';
import { forgetActorNames } from './projections/resource-metadata.js';
// [imports]

/** Every read model, in no particular order: each has its own checkpoint. */
export const PROJECTIONS: readonly Projection<any>[] = [
  organizationsProjection,
  groupsProjection,
  usersProjection,
  projectsProjection,
  allocationsProjection,
  quotasProjection,
  serviceAccountsProjection,
  serviceAccountCredentialsProjection,
  identityProvidersProjection,
  applicationsProjection,
  applicationCredentialsProjection,
  sessionsProjection,
  apiKeyCredentialsProjection,
  passwordPoliciesProjection,
  // [projections]
];

export interface Stores {
  /** Every read comes out upcast and validated (EvolvingEventStore over the engine's adapter). */
  readonly events: EventStore;
  /** The events that reads found this version cannot read: counted, logged, shown by /readyz. */
  readonly unreadableEvents: UnreadableEvents;
  readonly readModels: ReadModelStore;
  readonly checkpoints: CheckpointStore;
  /** Snapshots of long-lived streams: beside the events in SQLite; none with EventStoreDB (yet). */
  readonly snapshots: SnapshotStore;
  /** Crypto-shredding's data keys, one per person (docs/crypto-shredding.md); in PostgreSQL with DATABASE_URL (docs/cluster.md). */
  readonly personKeys: PersonKeyStore;
}

/** The engines: SQLite and memory by default; EventStoreDB and MongoDB when configured. */
export async function openStores(config: Config, logger?: Logger): Promise<Stores> {
  let events: EventStore;
  let checkpoints: CheckpointStore;
  let snapshots: SnapshotStore;
  if (config.EVENTSTORE_CONNECTION_STRING) {
    const { EventStoreDbEventStore } = await import('./infra/eventstoredb/eventstoredb-event-store.js');
    const { EventStoreDbCheckpointStore } = await import('./infra/eventstoredb/eventstoredb-checkpoint-store.js');
    const store = await EventStoreDbEventStore.connect(config.EVENTSTORE_CONNECTION_STRING);
    // Retention is EventStoreDB's own: streams with retention get $maxAge / $maxCount when first written.
    const retention = retentionSettings(config);
    store.useRetention((streamName) => nativeRetention(streamName, retention));
    events = store;
    checkpoints = new EventStoreDbCheckpointStore(store.client);
    snapshots = new NoSnapshots();
  } else if (config.DATABASE_URL) {
    // PostgreSQL (docs/postgres.md): one log, checkpoints and snapshots shared by every instance.
    const { PgEventStore } = await import('./infra/postgres/pg-event-store.js');
    const { PgCheckpointStore } = await import('./infra/postgres/pg-checkpoint-store.js');
    const { PgSnapshotStore } = await import('./infra/postgres/pg-snapshot-store.js');
    const pg = await PgEventStore.open(config.DATABASE_URL);
    pg.observeCommits(appendObserver('postgres'));
    events = pg;
    checkpoints = await PgCheckpointStore.open(config.DATABASE_URL);
    snapshots = await PgSnapshotStore.open(config.DATABASE_URL);
  } else {
    // Process checkpoints live with the events, in the same durable file.
    const sqlite = new SqliteEventStore(join(config.DATA_DIR, 'events.sqlite'));
    // Group commits' size and duration, as metrics.
    sqlite.observeCommits(appendObserver('sqlite'));
    events = sqlite;
    checkpoints = new SqliteCheckpointStore(join(config.DATA_DIR, 'events.sqlite'));
    snapshots = new SqliteSnapshotStore(join(config.DATA_DIR, 'events.sqlite'));
  }
  let readModels: ReadModelStore;
  if (config.MONGODB_URL) {
    const { MongoReadModelStore } = await import('./infra/mongodb/mongo-read-model-store.js');
    readModels = await MongoReadModelStore.connect(config.MONGODB_URL);
  } else {
    readModels = new MemoryReadModelStore();
  }
  // One read path for every reader: upcast to the current versions, validate, pass over what cannot be read.
  const unreadableEvents = new UnreadableEvents(logger);
  // Crypto-shredding (docs/crypto-shredding.md): personal fields sealed under a key per person before they are stored
  // (and hashed into the ledger); `events.inner` stays the stored form.
  // With DATABASE_URL, in PostgreSQL: every instance opens what another sealed, and an erasure reaches all (docs/cluster.md).
  const personKeysKey = SecretSealer.forDataDir(sharedSecretsDir(config)).deriveKey('person-keys');
  const personKeys: PersonKeyStore = config.DATABASE_URL
    ? await (await import('./infra/postgres/pg-person-keys.js')).PgPersonKeys.connect(config.DATABASE_URL, personKeysKey, logger)
    : new PersonKeys(join(config.DATA_DIR, 'person-keys.sqlite'), personKeysKey);
  const cipher = new PersonalDataCipher(personKeys);
  // A shared key store fetches the keys of the events read before they are opened.
  const stored = cipher.needsPreparing ? new KeysPreparedEventStore(events, cipher) : events;
  return { events: new EvolvingEventStore(stored, unreadableEvents, eventReader, cipher), unreadableEvents, readModels, checkpoints, snapshots, personKeys };
}

export interface Service {
  readonly app: Express;
  readonly stores: Stores;
  readonly projections: ProjectionRunner;
  /** The command side's cached states and snapshots of long-lived streams (with read counters). */
  readonly streamStates: StreamStates;
  /** Applies stream retention every RETENTION_SCAVENGE_SECONDS (SQLite; EventStoreDB applies its own). */
  readonly retention: RetentionScavenger;
  /** The verifiable log: the Merkle tree, its builder, the signed tree heads. */
  readonly ledger: { readonly tree: SqliteMerkleTree; readonly builder: LedgerBuilder; readonly heads: TreeHeads };
  /** Erasure: components that keep copies of people's data register here to forget an erased person. */
  readonly erasure: ErasureHooks;
  /** The audit log's index (docs/audit.md), in DATA_DIR/audit.sqlite, tailing the log as stored. */
  readonly auditLog: SqliteAuditIndex;
  /** Sampled records of 403s and rejected client authentication (flush() writes the counts of closed windows). */
  readonly denials: AuditDenials;
  close(): Promise<void>;
}

/**
 * Where the master secret (secrets-v1.key) and the signing keys live: one folder
 * every instance on the same log mounts (docs/cluster.md); DATA_DIR by default.
 */
export const sharedSecretsDir = (config: Config): string => config.SHARED_SECRETS_DIR ?? config.DATA_DIR;

/**
 * Background jobs that must run on one instance at a time: under a lease each
 * (docs/cluster.md); alone on the log (no DATABASE_URL), every lease is held.
 */
export async function openLeases(config: Config, logger: Logger): Promise<Leases> {
  if (!config.DATABASE_URL) return new InProcessLeases();
  const { PgLeases } = await import('./infra/postgres/pg-lease.js');
  return new PgLeases(config.DATABASE_URL, { scope: config.LEASE_SCOPE, logger });
}

/** The composition root: wires stores, commands, projections, processes and the HTTP API. */
export async function startService(config: Config, logger: Logger): Promise<Service> {
  // DATA_DIR holds personal data and keys: 0700 when we create it; a warning when others can read an existing one.
  const dataDir = preparePrivateDirectory(config.DATA_DIR);
  if (dataDir.readableByOthers) {
    logger.warn({ dataDir: config.DATA_DIR }, 'DATA_DIR is readable by other users: it holds personal data, password hashes and keys; chmod 700 it');
  }
  const stores = await openStores(config, logger);
  const { events, readModels, checkpoints, snapshots } = stores;

  // Read models first: the service is ready once they have caught up with the log.
  // In memory, they are saved to a snapshot file (periodically and at shutdown) and a start loads it and applies only the tail.
  const readModelSnapshots =
    config.READ_MODEL_SNAPSHOTS && readModels instanceof MemoryReadModelStore
      ? new ReadModelSnapshots({ path: join(config.DATA_DIR, READ_MODEL_SNAPSHOT_FILE), store: readModels, events, projections: PROJECTIONS, logger })
      : undefined;
  const projections = new ProjectionRunner(events, readModels, PROJECTIONS, logger, readModelSnapshots);
  await projections.start();
  readModelSnapshots?.saveEvery(projections, config.READ_MODEL_SNAPSHOT_SECONDS);
  const writes = new WriteContext(projections, config.PROJECTION_WAIT_MS);
  const access = new AccessControl(readModels);

  // Commands: the write side, one handler class per aggregate.
  // Long-lived streams (ledgers, groups): states cached in memory, snapshots every SNAPSHOT_EVERY events.
  const streamStates = new StreamStates(snapshots, { every: config.SNAPSHOT_EVERY, cachedStreams: config.SNAPSHOT_CACHED_STREAMS });
  const organizations = new OrganizationCommands(events);
  const groups = new GroupCommands(events, readModels, streamStates);
  // Subjects' and federated identities' reservations hold a keyed hash, never the value (docs/crypto-shredding.md).
  // New users' ids come with their data keys made ahead, a batch per durable write (keyed-id-pool.ts).
  const keyedIds = new KeyedIdPool(stores.personKeys, logger);
  const users = new UserCommands(events, groups, SecretSealer.forDataDir(sharedSecretsDir(config)).deriveKey('unique-values'), () => keyedIds.take());
  // Where an organization has no password policy of its own (docs/password-policy.md).
  const platformPasswordPolicy: PasswordPolicy = {
    ...BUILT_IN_PASSWORD_POLICY,
    maximum_password_attempts: Math.min(100, config.THROTTLE_SOURCE_FREE_FAILURES),
    ...config.PASSWORD_POLICY_DEFAULT,
    enabled: true,
  };
  const passwords = new CredentialCommands(events, platformPasswordPolicy);
  // Password attempts: a bound on concurrent hashes, rate limits and progressive delays (in memory; with DATABASE_URL
  // the failures and successes are relayed to every instance, docs/cluster.md).
  const throttleRelay = config.DATABASE_URL ? await (await import('./infra/postgres/pg-throttle-relay.js')).PgThrottleRelay.connect(config.DATABASE_URL, logger) : undefined;
  configurePasswordHashing({ concurrency: config.PASSWORD_HASH_CONCURRENCY, maxWaiting: config.PASSWORD_HASH_QUEUE });
  const throttle = new LoginThrottle(
    {
      sourceRequestsPerMinute: config.THROTTLE_SOURCE_REQUESTS_PER_MINUTE,
      tokenRequestsPerMinute: config.THROTTLE_TOKEN_REQUESTS_PER_MINUTE,
      sourceFreeFailures: config.THROTTLE_SOURCE_FREE_FAILURES,
      accountFreeFailures: config.THROTTLE_ACCOUNT_FREE_FAILURES,
      maxDelaySeconds: config.THROTTLE_MAX_DELAY_SECONDS,
    },
    // Behind these proxies, limits count the client's address from X-Forwarded-For.
    trustedProxyList(config.TRUSTED_PROXIES),
    undefined,
    throttleRelay,
  );
  const loginAudit = new LoginFlowRejections(events);
  // 403s and rejected client authentication, sampled per key and minute (docs/audit-roles.md).
  const denials = new AuditDenials(events, undefined, undefined, (error) => logger.warn({ err: error }, 'could not record refusals'));
  const projects = new ProjectCommands(events);
  const ledger = new ResourceLedgerCommands(events, config.QUOTA_DEFAULTS, streamStates);
  const serviceAccounts = new ServiceAccountCommands(events, groups, config.SERVICE_ACCOUNT_TOKEN_TTL_DAYS);
  // Identity providers' client secrets are sealed with a key kept in DATA_DIR, never in the log.
  const sealer = SecretSealer.forDataDir(sharedSecretsDir(config));
  const identityProviders = new IdentityProviderCommands(events, sealer);
  // Idempotency-Key records: in the embedded database file, beside the events (per instance with EventStoreDB).
  // With PostgreSQL, in it: a key claimed on one instance is claimed on all.
  const idempotencyRecords: IdempotencyStore = config.DATABASE_URL
    ? await (await import('./infra/postgres/pg-idempotency-store.js')).PgIdempotencyStore.open(config.DATABASE_URL)
    : new SqliteIdempotencyStore(join(config.DATA_DIR, config.EVENTSTORE_CONNECTION_STRING ? 'idempotency.sqlite' : 'events.sqlite'));
  const idempotency = new Idempotency(idempotencyRecords, sealer);
  // Erasure (GDPR art. 17): copies of a person's data outside the log forget them once their key is gone.
  const erasureHooks = new ErasureHooks();
  erasureHooks.onErased('idempotency answers', async (personId) => {
    await idempotency.forgetMentions(personId);
  });
  // Names of an erased user as createdBy/modifiedBy of resources: blanked once the read models applied the erasure
  // (before the snapshot below is rewritten from them); a rebuild shows [erased] the same way.
  erasureHooks.onErased('read-model actor names', async (personId, { position }) => {
    if (position) await projections.waitFor(position, Math.max(config.PROJECTION_WAIT_MS, 5000));
    await forgetActorNames(readModels, PROJECTIONS.map((projection) => projection.collection), personId);
  });
  erasureHooks.onErased('read-model snapshot', async (_personId, { position }) => {
    if (!readModelSnapshots) return;
    // Rewritten from the read models once they have applied the deletion (and the old file replaced).
    await projections.waitFor(position, Math.max(config.PROJECTION_WAIT_MS, 5000));
    await readModelSnapshots.save(projections);
  });
  const applicationCommands = new ApplicationCommands(events);
  const apiKeys = new ApiKeyCommands(events, config.API_KEY_LIFETIME_SECONDS);
  // The token service: sessions are event streams; signing keys live in DATA_DIR.
  const keys = await SigningKeys.open(sharedSecretsDir(config));
  const tokens = new TokenService(events, keys, {
    issuer: config.ISSUER,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    idTokenTtlSeconds: config.ID_TOKEN_TTL_SECONDS,
    authorizationCodeTtlSeconds: config.AUTHORIZATION_CODE_TTL_SECONDS,
    refreshReuseGraceSeconds: config.REFRESH_REUSE_GRACE_SECONDS,
    refreshAbsoluteLifetimeSeconds: config.REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS,
    refreshIdleLifetimeSeconds: config.REFRESH_TOKEN_IDLE_LIFETIME_SECONDS,
    clientCredentialsSessionSeconds: config.CLIENT_CREDENTIALS_SESSION_SECONDS,
  });

  // The verifiable log (docs/ledger.md): a Merkle tree of the log as stored, beside it in DATA_DIR, and signed tree heads.
  const tree = new SqliteMerkleTree(join(config.DATA_DIR, 'ledger.sqlite'));
  const ledgerBuilder = new LedgerBuilder(events instanceof EvolvingEventStore ? events.inner : events, tree, logger);
  const treeHeads = new TreeHeads({
    tree,
    events,
    key: keys,
    issuer: config.ISSUER,
    settings: { everyEvents: config.LEDGER_TREE_HEAD_EVENTS, everySeconds: config.LEDGER_TREE_HEAD_SECONDS },
    logger,
  });

  // The audit log (docs/audit.md): an index of the log as stored, in its own file; filled in the background.
  // It files and shows personal data opened (sealed in the log; docs/crypto-shredding.md) and forgets an erased person's names.
  const personalData = new PersonalDataCipher(stores.personKeys);
  const auditLog = new SqliteAuditIndex(
    join(config.DATA_DIR, 'audit.sqlite'),
    events instanceof EvolvingEventStore ? events.inner : events,
    logger,
    (event) => personalData.open(event),
    // Filed in a worker thread; on the embedded store it reads the log, the local data keys and the tree's leaves itself.
    config.DATABASE_URL
      ? {}
      : {
          personKeys: { file: join(config.DATA_DIR, 'person-keys.sqlite'), wrappingKey: SecretSealer.forDataDir(sharedSecretsDir(config)).deriveKey('person-keys') },
          ledgerFile: join(config.DATA_DIR, 'ledger.sqlite'),
        },
  );
  erasureHooks.onErased('audit index names', async (personId) => {
    await auditLog.forgetSubject(personId);
  });
  // An erasure on another instance (a shared key store tells): this instance's own copies forget the person too.
  // The log's head stands for the erasure's position: the erasing instance appended its events before it told.
  stores.personKeys.onErasedElsewhere?.((personId) => {
    void events
      .headPosition()
      .then((position) => erasureHooks.run(personId, position === undefined ? {} : { position }))
      .catch((error: unknown) => logger.error({ err: error }, 'erasure hooks failed after an erasure on another instance'));
  });

  // Sign-up with email verification (off by default): links go out by SMTP from the sign-up process.
  const mailer = config.SMTP_URL ? new SmtpMailer(config.SMTP_URL, config.MAIL_FROM ?? `no-reply@${new URL(config.ISSUER).hostname}`) : undefined;
  const signups = config.SIGNUP_EMAIL_VERIFICATION && mailer
    ? new SignupCommands(events, mailer, { issuer: config.ISSUER, linkTtlSeconds: config.SIGNUP_LINK_TTL_HOURS * 3600 })
    : undefined;

  // Queries: the read side. They read through the switch: the live read models, or, inside a read as of a
  // moment (asOf, docs/time-travel.md), the organization's read models as they were then.
  const queryModels = new ReadModelSwitch(readModels);
  // Past states and histories replay the audit index's events as every reader reads them (opened, upcast).
  const pastEvents: AuditLog = new ReadersAuditLog(
    auditLog,
    (stored) => (events instanceof EvolvingEventStore ? events.read(stored) : stored),
    () => events.headPosition(),
    Math.min(config.PROJECTION_WAIT_MS, 2000),
  );
  const timeTravel = new TimeTravel(pastEvents, PROJECTIONS, { maxEvents: config.TIME_TRAVEL_MAX_EVENTS, cachedModels: config.TIME_TRAVEL_CACHED_MODELS });
  // Kept past states hold copies of people's data: an erased person's go with them (the next replay reads them erased).
  erasureHooks.onErased('past states (time travel)', async () => timeTravel.forget());
  const resourceHistory = new ResourceHistory(pastEvents, PROJECTIONS, queryModels, config.TIME_TRAVEL_MAX_EVENTS);
  const organizationQueries = new OrganizationQueries(queryModels);
  const passwordPolicies = new PasswordPolicyQueries(readModels, platformPasswordPolicy);
  const userQueries = new UserQueries(queryModels);
  const allocationQueries = new AllocationQueries(queryModels);
  const applications = new ApplicationQueries(queryModels);
  const directory = new UserDirectory(readModels);
  const serviceAccountQueries = new ServiceAccountQueries(queryModels);
  const sessions = new SessionQueries(readModels);
  // What bearer checks found, dropped by the events that change them as the read models apply them.
  const liveTokens = new LiveTokens();
  projections.observe(liveTokens.observe);
  // Authenticated clients (id and secret digest), dropped by any event of their application.
  const knownClients = new KnownClients(applications);
  projections.observe(knownClients.observe);
  const sessionEnder = new SessionEnder(tokens, readModels);
  // RFC 8705 client certificates: the TLS peer's, or a trusted proxy's forwarded one.
  const certificates = new ClientCertificates({
    header: config.CLIENT_CERT_HEADER,
    trustedProxies: config.TRUSTED_PROXIES,
    clientCas: config.TLS_CLIENT_CA_FILE ? readPemBundle(readFileSync(config.TLS_CLIENT_CA_FILE, 'utf8')) : undefined,
  });
  const mtlsIssuer = config.TLS_CERT_FILE !== undefined || config.CLIENT_CERT_HEADER !== undefined ? (config.MTLS_ISSUER ?? config.ISSUER) : undefined;

  // Process managers, each a subscription with its own durable checkpoint: provisioning,
  // the deletion cascades, and what follows a deletion (groups off projects, sessions ended).
  const sync = new ReadModelSync(events, projections);
  const definitions: ProcessDefinition[] = [
    provisioningProcess(organizations, projects),
    projectDeletionProcess(projects, ledger),
    organizationDeletionProcess({
      commands: { organizations, projects, ledger, groups, users, serviceAccounts, applications: applicationCommands, identityProviders },
      children: new OrganizationChildren(readModels),
      sessions: sessionEnder,
      sync,
    }),
    groupRemovalProcess({ projects, readModels, sync }),
    sessionRevocationProcess({ sessions: sessionEnder, sync }),
    ...(signups ? [signupProcess(signups)] : []),
  ];
  // Each under its lease (docs/cluster.md): made afresh, from its checkpoint, whenever this instance takes it.
  const leases = await openLeases(config, logger);
  const processes = definitions.map(
    (definition) =>
      new LeasedJob(
        leases.lease(definition.name),
        (): Job => {
          const runner = new ProcessManagerRunner(definition, events, checkpoints, logger);
          return { start: () => runner.start(), stop: ({ lost }) => runner.stop({ saveCheckpoint: !lost }), get finishedPosition() { return runner.finishedPosition; } };
        },
        logger,
        setLeaseHeld,
      ),
  );
  // Lags (events behind the log's head), read when /readyz or the metrics ask; a process manager this instance does not run has none.
  const projectionLag = async () => eventsBehind(await events.headPosition(), projections.appliedPosition);
  const untrackLags = [
    trackProjectionLag(projectionLag),
    ...processes.map((process) => trackProcessLag(process.name, async () => (process.running ? eventsBehind(await events.headPosition(), process.finishedPosition) : 0))),
  ];

  // The HTTP API.
  const routes: RouteDefinition<any, any, any>[] = [
    ...healthRoutes(projections, stores.unreadableEvents, { maxEvents: config.READY_MAX_LAG_EVENTS, behind: projectionLag }),
    ...organizationRoutes({ commands: organizations, queries: organizationQueries, writes }),
    ...aclRoutes(access, {
      access: new AccessControl(queryModels),
      subjectKind: async (organizationId, id) =>
        (await userQueries.get(organizationId, id)) ? 'user' : (await serviceAccountQueries.get(organizationId, id)) ? 'service_account' : undefined,
    }),
    ...ledgerRoutes({ tree, latestHead: () => treeHeads.latest(), access }),
    ...auditRoutes({
      log: auditLog,
      events,
      commands: new AuditCommands(events),
      writes,
      waitMs: Math.min(config.PROJECTION_WAIT_MS, 1000),
      leafHashesOf: (positions) => tree.leafHashesAt(positions),
      exportLimits: { total: config.AUDIT_EXPORTS_MAX, perCaller: config.AUDIT_EXPORTS_PER_CALLER },
    }),
    ...(await roleRoutes()),
    ...groupRoutes({ commands: groups, queries: new GroupQueries(queryModels), writes, access }),
    ...userRoutes({ commands: users, queries: userQueries, writes, access, passwords, sessions: sessionEnder, ...(signups && { signups }) }),
    ...(signups ? signupRoutes({ signups, clients: applications, users: userQueries, writes, throttle }) : []),
    ...userIdentityRoutes({ commands: users, writes }),
    ...userErasureRoutes({ erasure: new UserErasure({ store: events, users, keys: stores.personKeys, sessions: sessionEnder, hooks: erasureHooks }), writes }),
    ...credentialRoutes({ passwords, users: userQueries, writes, sessions: sessionEnder, throttle, audit: loginAudit }),
    // The compatible APIs of seeds 000 and 003 (docs/compat.md): in the caller's organization.
    ...compatUserRoutes({
      commands: users,
      users: new CompatUserQueries(readModels),
      passwords,
      sessions: sessionEnder,
      writes,
      access,
      tenancy: new CompatTenancy(organizations, organizationQueries, writes),
    }),
    ...k8sRoutes({
      users,
      groups,
      userQueries: new CompatUserQueries(readModels),
      readModels,
      passwords,
      sessions: sessionEnder,
      writes,
      access,
      tenancy: new CompatTenancy(organizations, organizationQueries, writes),
    }),
    ...compatAppRoutes({
      commands: applicationCommands,
      readModels,
      roleGroups: new RoleGroups(groups, readModels, writes),
      sessions: sessionEnder,
      writes,
      access,
      tenancy: new CompatTenancy(organizations, organizationQueries, writes),
    }),
    ...authUserRoutes({ commands: users, readModels, passwords, roleGroups: new RoleGroups(groups, readModels, writes), sessions: sessionEnder, writes, access, throttle }),
    // The accounts API of seed 002 (docs/accounts.md): accounts are users; API keys are their bearer credentials.
    ...accountRoutes({
      users,
      accounts: new AccountCommands(events),
      apiKeys,
      readModels,
      passwords,
      roleGroups: new RoleGroups(groups, readModels, writes),
      sessions: sessionEnder,
      writes,
      access,
      throttle,
    }),
    ...projectRoutes({ commands: projects, queries: new ProjectQueries(queryModels), organizations: organizationQueries, writes, access }),
    ...passwordPolicyRoutes({ commands: organizations, queries: passwordPolicies, organizations: organizationQueries, writes }),
    ...quotaRoutes({ commands: ledger, queries: new QuotaQueries(queryModels, allocationQueries, config.QUOTA_DEFAULTS), organizations: organizationQueries, writes }),
    ...allocationRoutes({ commands: ledger, queries: allocationQueries, organizations: organizationQueries, writes, access }),
    ...serviceAccountRoutes({ commands: serviceAccounts, queries: serviceAccountQueries, access, writes }),
    ...identityProviderRoutes({
      commands: identityProviders,
      queries: new IdentityProviderQueries(queryModels),
      system: new SystemProviderQueries(config.OAUTH2_PROVIDERS),
      writes,
      issuerPolicy: { allowPrivateNetworks: config.IDENTITY_PROVIDER_ALLOW_PRIVATE_NETWORKS },
    }),
    ...applicationRoutes({ commands: applicationCommands, queries: applications, readModels, writes, access, sessions: sessionEnder }),
    ...oidcRoutes({
      issuer: config.ISSUER,
      keys,
      tokens,
      clients: knownClients,
      users: directory,
      credentials: passwords,
      passwordPolicies,
      sessions,
      liveTokens,
      writes,
      rejections: loginAudit,
      denials,
      logins: new LoginRecords(events),
      endSessions: sessionEnder,
      throttle,
      certificates,
      mtlsIssuer,
      // Federated login: upstream identity providers, every call through the address guard.
      federation: {
        upstream: new UpstreamClients({
          allowPrivateNetworks: config.IDENTITY_PROVIDER_ALLOW_PRIVATE_NETWORKS,
          ...(config.IDENTITY_PROVIDER_CA_FILE !== undefined && { extraCa: readFileSync(config.IDENTITY_PROVIDER_CA_FILE, 'utf8') }),
          timeoutMs: config.IDENTITY_PROVIDER_TIMEOUT_MS,
          maxResponseBytes: config.IDENTITY_PROVIDER_MAX_RESPONSE_BYTES,
        }),
        providers: new FederationProviders(readModels, new IdentityProviderQueries(readModels), identityProviders, config.OAUTH2_PROVIDERS),
        states: new FederationStateSealer(sealer.deriveKey('federation-state'), config.ISSUER),
        identities: users,
        ...(config.FEDERATED_ONBOARDING && {
          onboarding: new Onboarding(
            {
              key: sealer.deriveKey('onboarding-state'),
              organizations,
              groups,
              users,
              organizationNameTaken: async (name) => (await directory.organizationId(name)) !== undefined,
            },
            config.ISSUER,
          ),
        }),
      },
    }),
  ];

  // Every resource's history (<GET path>/history), read by its GET route's own handler.
  routes.push(...historyRoutes({ routes, history: resourceHistory, access }));

  // Bearer credentials, tried in turn: the bootstrap token, service-account tokens, access tokens.
  const bootstrap = await BootstrapCredential.establish(events, config.IDENTITY_BOOTSTRAP_TOKEN, logger);
  const credentials: CredentialResolver[] = [
    bootstrap.resolve,
    serviceAccountCredentials(readModels),
    // Accounts' API keys; a use counts as the account's activity (last_access_time, bounded as for logins).
    apiKeyCredentials(readModels, (user) => {
      tokens.recordActivity(user).catch((error: unknown) => logger.warn({ err: error }, 'could not record API key activity'));
    }),
    accessTokenCredential({ tokens, sessions, users: directory, certificates, liveTokens }),
  ];

  for (const process of processes) await process.start();
  // The ledger's and the audit index's filers start once the read models have caught up: on a first start over a
  // log they have never filed, the fold that readiness waits for gets the two cores first, and /healthz answers
  // as in a plain replay (docs/startup.md). On a restart they are caught up already, so this delays nothing.
  let closing = false;
  void projections.caughtUpWithLog().then(() => {
    if (closing) return;
    ledgerBuilder.start();
    auditLog.start();
  });
  // The signer of tree heads and the scavenger: one instance each, under their leases.
  const treeHeadSigner = new LeasedJob(leases.lease('ledger-tree-heads'), () => ({ start: () => treeHeads.start(), stop: () => treeHeads.stop() }), logger, setLeaseHeld);
  await treeHeadSigner.start();
  // The other instances keep the signer's heads beside their own tree (docs/cluster.md).
  const treeHeadFollower = config.DATABASE_URL ? treeHeads.follow() : undefined;
  // Stream retention (docs/retention.md): token rotations and user activity are not kept forever.
  const retention = RetentionScavenger.fromConfig(events, config, logger);
  const scavenger = new LeasedJob(leases.lease('retention-scavenger'), () => ({ start: () => retention.start(), stop: () => retention.stop() }), logger, setLeaseHeld);
  await scavenger.start();
  const app = createApp({
    logger,
    credentials,
    access,
    routes,
    issuer: config.ISSUER,
    organizationExists: async (id) => (await organizationQueries.get(id)) !== undefined,
    idempotency,
    sourceOf: (req) => throttle.sourceOf(req),
    denials,
    timeTravel: { storeAt: async (organizationId, moment) => (await timeTravel.at(organizationId, moment)).store, run: (store, fn) => queryModels.run(store, fn) },
    organizationOfTenant: async (tenantId) => (await organizationQueries.byTenantId(tenantId))?.metadata.id,
    metrics: { ...(config.METRICS_TOKEN !== undefined && { token: config.METRICS_TOKEN }) },
    readYourWrites: readYourWrites({ progress: projections, head: () => events.headPosition(), waitMs: config.READ_YOUR_WRITES_WAIT_MS }),
  });

  return {
    app,
    stores,
    projections,
    streamStates,
    retention,
    ledger: { tree, builder: ledgerBuilder, heads: treeHeads },
    erasure: erasureHooks,
    auditLog,
    denials,
    async close() {
      closing = true;
      for (const untrack of untrackLags) untrack();
      await auditLog.close();
      treeHeadFollower?.stop();
      await treeHeadSigner.stop();
      await ledgerBuilder.stop();
      tree.close();
      await scavenger.stop();
      await denials.close();
      for (const process of processes) await process.stop();
      await leases.close();
      await throttleRelay?.close();
      await projections.stop();
      await readModelSnapshots?.close(projections);
      await events.close();
      await keyedIds.close();
      await stores.personKeys.close();
      await checkpoints.close();
      await streamStates.settled();
      await snapshots.close();
      await readModels.close();
      await idempotencyRecords.close();
      timeTravel.forget();
      await mailer?.close();
    },
  };
}
