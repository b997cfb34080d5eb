import { join } from 'node:path';
import { ADMIN_TOKEN, type TestServer } from './server.js';
import { freePort, type ServiceProcess, startServiceProcess, stopServiceProcess } from './process.js';
import { freshDatabase, postgresSkipReason } from './postgres.js';
import { tempDir } from './temp.js';

/** One service process of a cluster: the parts of a TestServer the HTTP helpers (test/support/oidc.ts) use. */
export interface ClusterInstance {
  readonly index: number;
  readonly baseUrl: string;
  readonly dataDir: string;
  readonly process: ServiceProcess;
  api(path: string, init?: RequestInit & { json?: unknown; token?: string | null }): Promise<Response>;
  /** As a TestServer, for the helpers that take one (they use baseUrl and api only). */
  readonly asServer: TestServer;
}

export interface Cluster {
  readonly databaseUrl: string;
  /** The folder every instance shares for the master secret and the signing keys (SHARED_SECRETS_DIR). */
  readonly sharedSecretsDir: string;
  /** The issuer every instance announces (as behind one load balancer). */
  readonly issuer: string;
  readonly instances: ClusterInstance[];
  /** SIGKILL instance i (its connections drop, its leases free). */
  kill(index: number): Promise<void>;
  /** Start instance i again on its own DATA_DIR and port. */
  restart(index: number): Promise<ClusterInstance>;
  stop(): Promise<void>;
}

/** Why a cluster cannot start here (no PostgreSQL), or undefined. */
export const clusterSkipReason = (): Promise<string | undefined> => postgresSkipReason();

/**
 * N service processes (`node dist/src/main.js`) on one fresh PostgreSQL
 * database, each with its own DATA_DIR and ephemeral port, sharing one
 * SHARED_SECRETS_DIR and one ISSUER, as behind a load balancer (docs/cluster.md).
 */
export async function startCluster(options: { size?: number; env?: Record<string, string> } = {}): Promise<Cluster> {
  const size = options.size ?? 3;
  const databaseUrl = await freshDatabase();
  const root = tempDir('identity-cluster-');
  const sharedSecretsDir = join(root.path, 'shared');
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const issuer = `http://127.0.0.1:${ports[0]}`;
  const envOf = (index: number): Record<string, string> => ({
    PORT: String(ports[index]),
    ISSUER: issuer,
    DATA_DIR: join(root.path, `instance-${index}`),
    SHARED_SECRETS_DIR: sharedSecretsDir,
    DATABASE_URL: databaseUrl,
    IDENTITY_BOOTSTRAP_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
    ...options.env,
  });
  const instances: ClusterInstance[] = [];
  const launch = async (index: number): Promise<ClusterInstance> => {
    // Three starts at once on a busy machine: more time than one start gets.
    const process = await startServiceProcess(envOf(index), { readyTimeoutMs: 90_000 });
    const baseUrl = process.baseUrl;
    const api: ClusterInstance['api'] = (path, init = {}) => {
      const { json, token = ADMIN_TOKEN, headers, ...rest } = init;
      const h = new Headers(headers);
      if (token !== null && !h.has('authorization')) h.set('authorization', `Bearer ${token}`);
      if (json !== undefined) h.set('content-type', 'application/json');
      return fetch(baseUrl + path, { ...rest, headers: h, body: json !== undefined ? JSON.stringify(json) : rest.body });
    };
    const instance: ClusterInstance = { index, baseUrl, dataDir: envOf(index).DATA_DIR!, process, api, asServer: { baseUrl, api } as unknown as TestServer };
    instances[index] = instance;
    return instance;
  };
  // The first alone (it creates the schema and the shared secrets), then the others together; on any failure, none stays.
  const first = await Promise.allSettled([launch(0)]);
  const rest = first[0]!.status === 'fulfilled' ? await Promise.allSettled(Array.from({ length: size - 1 }, (_, i) => launch(i + 1))) : [];
  const failed = [...first, ...rest].find((outcome) => outcome.status === 'rejected');
  if (failed) {
    for (const instance of instances) if (instance) await stopServiceProcess(instance.process, 'SIGKILL');
    root.remove();
    throw (failed as PromiseRejectedResult).reason;
  }
  return {
    databaseUrl,
    sharedSecretsDir,
    issuer,
    instances,
    async kill(index) {
      await stopServiceProcess(instances[index]!.process, 'SIGKILL');
    },
    restart: launch,
    async stop() {
      await Promise.all(instances.map((instance) => stopServiceProcess(instance.process, 'SIGTERM')));
      root.remove();
    },
  };
}
