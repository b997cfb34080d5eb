import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { answerClientErrors } from '../../src/api/http/client-errors.js';
import { loadConfig } from '../../src/config.js';
import { REDACTED_PATHS } from '../../src/infra/logger.js';
import { createServer } from '../../src/infra/tls/server.js';
import { type Service, startService } from '../../src/service.js';
import { freePort } from './process.js';
import { tempDir } from './temp.js';

export const ADMIN_TOKEN = 'test-bootstrap-token-0123456789abcdefghijklmnop';

export interface TestServer {
  readonly baseUrl: string;
  readonly dataDir: string;
  readonly service: Service;
  /** Everything the service logged, one JSON line per entry. */
  readonly logs: string[];
  /** fetch with the platform administrator's token. */
  api(path: string, init?: RequestInit & { json?: unknown; token?: string | null }): Promise<Response>;
  /** Stop the server, keeping the data folder (for restart tests). */
  stop(): Promise<void>;
  /** Stop and delete the data folder. */
  close(): Promise<void>;
}

/** A real service on an ephemeral port with real SQLite files in a temp folder. */
export async function startTestServer(options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<TestServer> {
  const temp = options.dataDir ? undefined : tempDir();
  const dataDir = options.dataDir ?? temp!.path;
  // The issuer must be the address clients reach, so pick the port before starting.
  const port = await freePort();
  const config = loadConfig({
    PORT: String(port),
    ISSUER: `${options.env?.TLS_CERT_FILE ? 'https' : 'http'}://127.0.0.1:${port}`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    IDENTITY_BOOTSTRAP_TOKEN: ADMIN_TOKEN,
    ...options.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = pino({ level: 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink);
  const service = await startService(config, logger);
  const server: Server = await new Promise((resolve) => {
    // As main.ts does: HTTPS when the env names a certificate and key.
    const s = createServer(config, service.app).listen(config.PORT, '127.0.0.1', () => resolve(s));
  });
  answerClientErrors(server);
  const baseUrl = config.ISSUER;

  const stop = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await service.close();
  };
  return {
    baseUrl,
    dataDir,
    service,
    logs,
    api(path, init = {}) {
      const { json, token = ADMIN_TOKEN, headers, ...rest } = init;
      const h = new Headers(headers);
      if (token !== null && !h.has('authorization')) h.set('authorization', `Bearer ${token}`);
      if (json !== undefined) h.set('content-type', 'application/json');
      return fetch(baseUrl + path, { ...rest, headers: h, body: json !== undefined ? JSON.stringify(json) : rest.body });
    },
    stop,
    async close() {
      await stop();
      temp?.remove();
    },
  };
}

/** Poll until the check passes or the timeout elapses. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 5000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
