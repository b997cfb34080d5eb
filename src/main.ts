import type { Server } from 'node:http';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './infra/logger.js';
import { answerClientErrors } from './api/http/client-errors.js';
import { createServer } from './infra/tls/server.js';
import { startService } from './service.js';
import { createMetricsServer } from './infra/metrics/metrics-server.js';

/** The process entry point: configuration from the environment, then serve until a signal. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.LOG_LEVEL);
  for (const obsolete of ['LOGIN_MAX_FAILURES', 'LOGIN_LOCK_MINUTES']) {
    if (process.env[obsolete] !== undefined) {
      logger.warn({ setting: obsolete }, `${obsolete} no longer has an effect: accounts are never locked; see THROTTLE_* in the README`);
    }
  }
  const service = await startService(config, logger);
  // HTTPS with client certificates requested when TLS_CERT_FILE and TLS_KEY_FILE are set, else HTTP.
  const server: Server = createServer(config, service.app).listen(config.PORT, () => {
    logger.info({ port: config.PORT, issuer: config.ISSUER, tls: config.TLS_CERT_FILE !== undefined, dataDir: config.DATA_DIR }, 'identity service listening');
  });
  answerClientErrors(server);
  // GET /metrics without authentication on a port of its own, when asked for (docs/operations.md).
  const metricsServer =
    config.METRICS_PORT === undefined
      ? undefined
      : createMetricsServer().listen(config.METRICS_PORT, () => logger.info({ port: config.METRICS_PORT }, 'metrics listening'));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server.close();
    server.closeAllConnections();
    metricsServer?.close();
    service.close().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error) => {
  process.stderr.write(`failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
