/**
 * npm run rebuild: fold the whole log into the read models again, from
 * position zero, with a progress bar. With MONGODB_URL set the new read models
 * are built as a new version beside the live ones (which running instances
 * keep serving), then switched to in one write, caught up with what the live
 * instances applied meanwhile, and the old version dropped (see
 * docs/adapters.md). With the in-memory default it replays the log
 * and reports what the read models hold (the service does the same at start).
 */
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/infra/logger.js';
import { rebuildReadModels } from '../src/projections/rebuild.js';
import { openStores, PROJECTIONS } from '../src/service.js';

const WIDTH = 40;

function progressBar(done: number, total: number, startedAt: number): string {
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(fraction * WIDTH);
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  return `\r[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${seconds}s`;
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
  const stores = await openStores(config, logger);
  try {
    const startedAt = Date.now();
    const report = await rebuildReadModels(stores.events, stores.readModels, PROJECTIONS, logger, {
      onProgress: (done, total) => process.stderr.write(progressBar(done, total, startedAt)),
      onStep: (message) => console.log(message),
    });
    process.stderr.write(progressBar(1, 1, startedAt) + '\n');
    console.log(`replayed ${report.replayed} events in ${((Date.now() - startedAt) / 1000).toFixed(2)} s`);
    for (const [name, count] of Object.entries(report.documents)) console.log(`  ${name}: ${count} documents`);
    const unreadable = stores.unreadableEvents.status();
    if (unreadable.count > 0) {
      // Skipped, not fatal: a newer version's events, or data the schema refuses (each logged with its stream and position).
      console.warn(`skipped ${unreadable.count} events this version cannot read:`, unreadable.byProblem, 'the last:', unreadable.last);
    }
    if (Object.keys(report.failures).length > 0) {
      console.error('projections that failed (nothing was switched):', report.failures);
      process.exitCode = 1;
    }
  } finally {
    await stores.events.close();
    await stores.checkpoints.close();
    await stores.snapshots.close();
    await stores.readModels.close();
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
