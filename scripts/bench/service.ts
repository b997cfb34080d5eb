/**
 * The service under benchmark, in-process: `startService` with a fresh temp
 * DATA_DIR and the embedded default engines (SQLite event store, in-memory
 * read models), served over HTTP on 127.0.0.1 like `app.listen` does. Request
 * logs are produced at the configured level, as in production, but written to
 * /dev/null; errors and fatal entries still reach stderr.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { REDACTED_PATHS } from '../../src/infra/logger.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { type Service, startService } from '../../src/service.js';
import { EvolvingEventStore } from '../../src/infra/events/evolving-event-store.js';
import { createServer } from '../../src/infra/tls/server.js';

export interface BenchService {
  readonly baseUrl: string;
  readonly adminToken: string;
  readonly service: Service;
  /** fetch with the platform administrator's bearer token and a JSON body. */
  api(path: string, init?: { method?: string; json?: unknown }): Promise<Response>;
  /** Stop serving, close the stores and delete the data folder. */
  close(): Promise<void>;
}

/** pino writes one entry per chunk: keep errors (level >= 50), drop the rest. */
export const errorsOnly = () =>
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      const line = chunk.toString('utf8');
      if (/"level":(5|6)\d/.test(line)) process.stderr.write(line);
      done();
    },
  });

const listen = (server: Server, port: number): Promise<void> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

/** A port free on 127.0.0.1 now (the kernel's pick), so that the issuer is the address clients will reach. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

export async function startBenchService(options: { name: string; logLevel: string; env?: Record<string, string> }): Promise<BenchService> {
  const dataDir = mkdtempSync(join(tmpdir(), `${options.name}-`));
  try {
    const port = await freePort();
    const adminToken = randomBytes(32).toString('base64url');
    const config = loadConfig({
      PORT: String(port),
      ISSUER: `http://127.0.0.1:${port}`,
      DATA_DIR: dataDir,
      LOG_LEVEL: options.logLevel,
      IDENTITY_BOOTSTRAP_TOKEN: adminToken,
      ...options.env,
    });
    const logger = pino({ level: options.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, errorsOnly());
    const service = await startService(config, logger);
    const events = service.stores.events instanceof EvolvingEventStore ? service.stores.events.inner : service.stores.events;
    const settings = events instanceof SqliteEventStore ? events.durabilitySettings() : undefined;
    if (settings && (settings.journalMode !== 'wal' || settings.synchronous !== 2)) {
      await service.close();
      throw new Error(`the event store is not durable: ${JSON.stringify(settings)}`);
    }
    // The server as main.ts makes it (its requests and responses made from the classes the app declares).
    const listening = createServer({}, service.app);
    try {
      await listen(listening, port);
    } catch (error) {
      await service.close();
      throw error;
    }
    const baseUrl = config.ISSUER;
    // Interrupted: still leave no data folder behind.
    const onSignal = (signal: NodeJS.Signals) => {
      rmSync(dataDir, { recursive: true, force: true });
      process.kill(process.pid, signal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    return {
      baseUrl,
      adminToken,
      service,
      api(path, init = {}) {
        const headers: Record<string, string> = { authorization: `Bearer ${adminToken}` };
        if (init.json !== undefined) headers['content-type'] = 'application/json';
        return fetch(baseUrl + path, { method: init.method ?? 'GET', headers, body: init.json === undefined ? undefined : JSON.stringify(init.json) });
      },
      async close() {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        listening.closeAllConnections();
        await new Promise((resolve) => listening.close(resolve));
        await service.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** POST a JSON body as the administrator; answers the parsed body, or throws with the status and body. */
export async function created<T = any>(service: BenchService, path: string, json: unknown): Promise<T> {
  const response = await service.api(path, { method: 'POST', json });
  const text = await response.text();
  if (response.status !== 201 && response.status !== 202) throw new Error(`POST ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}
