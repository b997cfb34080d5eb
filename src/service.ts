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
import { MemoryReadModelStore } from './infra/memory/memory-read-models.js';
import { SqliteCheckpointStore } from './infra/sqlite/sqlite-checkpoint-store.js';
import { SqliteEventStore } from './infra/sqlite/sqlite-event-store.js';
import type { CheckpointStore } from './ports/checkpoints.js';
import type { EventStore } from './ports/event-store.js';
import type { ReadModelStore } from './ports/read-models.js';
import { organizationDeletionProcess } from './processes/organization-deletion.js';
import { ProcessManagerRunner } from './processes/process-manager.js';
import type { Projection } from './projections/projection.js';
import { organizationsProjection } from './projections/organizations/projection.js';
import { OrganizationQueries } from './projections/organizations/queries.js';
import { ProjectionRunner } from './projections/runner.js';
// [imports]

/** Every read model, in no particular order: each has its own checkpoint. */
export const PROJECTIONS: readonly Projection<any>[] = [
  organizationsProjection,
  // [projections]
];

export interface Stores {
  readonly events: EventStore;
  readonly readModels: ReadModelStore;
  readonly checkpoints: CheckpointStore;
}

/** The engines: SQLite and memory by default; EventStoreDB and MongoDB when configured. */
export async function openStores(config: Config): Promise<Stores> {
  let events: EventStore;
  let checkpoints: CheckpointStore;
  if (config.EVENTSTORE_CONNECTION_STRING) {
    const { EventStoreDbEventStore } = await import('./infra/eventstoredb/eventstoredb-event-store.js');
    const { EventStoreDbCheckpointStore } = await import('./infra/eventstoredb/eventstoredb-checkpoint-store.js');
    const store = await EventStoreDbEventStore.connect(config.EVENTSTORE_CONNECTION_STRING);
    events = store;
    checkpoints = new EventStoreDbCheckpointStore(store.client);
  } else {
    // Process checkpoints live with the events, in the same durable file.
    events = new SqliteEventStore(join(config.DATA_DIR, 'events.sqlite'));
    checkpoints = new SqliteCheckpointStore(join(config.DATA_DIR, 'events.sqlite'));
  }
  let readModels: ReadModelStore;
  if (config.MONGODB_URL) {
    const { MongoReadModelStore } = await import('./infra/mongodb/mongo-read-model-store.js');
    readModels = await MongoReadModelStore.connect(config.MONGODB_URL);
  } else {
    readModels = new MemoryReadModelStore();
  }
  return { events, readModels, checkpoints };
}

export interface Service {
  readonly app: Express;
  readonly stores: Stores;
  readonly projections: ProjectionRunner;
  close(): Promise<void>;
}

/** The composition root: wires stores, commands, projections, processes and the HTTP API. */
export async function startService(config: Config, logger: Logger): Promise<Service> {
  const stores = await openStores(config);
  const { events, readModels, checkpoints } = stores;

  const projections = new ProjectionRunner(events, readModels, PROJECTIONS, logger);
  await projections.start();
  const writes = new WriteContext(projections, config.PROJECTION_WAIT_MS);
  const access = new AccessControl(readModels);
  const bootstrap = await BootstrapCredential.establish(events, config.IDENTITY_BOOTSTRAP_TOKEN, logger);
  const deps = { config, logger, events, readModels, writes, access };

  const organizations = new OrganizationCommands(events);
  const routes: RouteDefinition<any, any, any>[] = [
    ...healthRoutes(projections),
    ...organizationRoutes({ commands: organizations, queries: new OrganizationQueries(readModels), writes }),
    ...aclRoutes(access),
    ...(await roleRoutes()),
  ];
  const credentials: CredentialResolver[] = [bootstrap.resolve];
  const processes = [new ProcessManagerRunner(organizationDeletionProcess(organizations), events, checkpoints, logger)];
  // [wiring]
  void deps;

  for (const process of processes) await process.start();
  const app = createApp({ logger, credentials, access, routes, issuer: config.ISSUER });

  return {
    app,
    stores,
    projections,
    async close() {
      for (const process of processes) await process.stop();
      await projections.stop();
      await events.close();
      await checkpoints.close();
      await readModels.close();
    },
  };
}
