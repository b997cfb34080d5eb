/**
 * npm run rebuild: fold the whole log into the read models again, from
 * position zero, with a progress bar. With MONGODB_URL set the new read models
 * are built as a new version beside the live ones (which running instances
 * keep serving), then switched to in one write, caught up with what the live
 * instances applied meanwhile, and the old version dropped (see
 * docs/production-adapters.md). With the in-memory default it replays the log
 * and reports what the read models hold (the service does the same at start).
 */
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/infra/logger.js';
import { parsePosition, type GlobalPosition } from '../src/ports/event-store.js';
import type { ReadModelStore, ReadModelVersion } from '../src/ports/read-models.js';
import { applyToProjection, ProjectionRunner } from '../src/projections/runner.js';
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
  // Persistent read models are rebuilt beside the live ones, never cleared in place.
  const version: ReadModelVersion | undefined = await stores.readModels.beginVersion?.();
  const target: ReadModelStore = version?.store ?? stores.readModels;
  let published = false;
  try {
    const runner = new ProjectionRunner(stores.events, target, PROJECTIONS, logger);
    const startedAt = Date.now();
    const count = await runner.rebuild((done, total) => process.stderr.write(progressBar(done, total, startedAt)));
    process.stderr.write(progressBar(1, 1, startedAt) + '\n');
    const failures = runner.status().failures;
    console.log(`replayed ${count} events in ${((Date.now() - startedAt) / 1000).toFixed(2)} s`);
    for (const projection of PROJECTIONS) {
      console.log(`  ${projection.name}: ${await target.collection(projection.collection).count({})} documents`);
    }
    if (version && Object.keys(failures).length === 0) {
      await version.publish();
      published = true;
      console.log('switched the live read models to the new version');
      // Running instances read the pointer again within switchDelayMs; until then they may have
      // applied new events to the old version only. Fold everything after the rebuild's last event
      // into the new one (writes are conditional on position, so what they also wrote is left alone).
      await new Promise((resolve) => setTimeout(resolve, 2 * version.switchDelayMs));
      const position = runner.status().position;
      const tail = await catchUp(stores.events, target, position === undefined ? undefined : parsePosition(position));
      console.log(`applied ${tail} events written during the switch`);
      await version.dropPrevious();
      console.log('dropped the previous version');
    }
    const unreadable = stores.unreadableEvents.status();
    if (unreadable.count > 0) {
      // Skipped, not fatal: a newer version's events, or data the schema refuses (each logged with its stream and position).
      console.warn(`skipped ${unreadable.count} events this version cannot read:`, unreadable.byProblem, 'the last:', unreadable.last);
    }
    if (Object.keys(failures).length > 0) {
      console.error('projections that failed:', failures);
      process.exitCode = 1;
    }
  } finally {
    if (version && !published) await version.discard();
    if (version) await target.close();
    await stores.events.close();
    await stores.checkpoints.close();
    await stores.snapshots.close();
    await stores.readModels.close();
  }
}

/** Apply every event after `after` to every projection of `readModels`, a page (one bulk write) at a time. */
async function catchUp(events: Awaited<ReturnType<typeof openStores>>['events'], readModels: ReadModelStore, after: GlobalPosition | undefined): Promise<number> {
  let count = 0;
  for (;;) {
    const page = await events.readAll({ after, maxCount: 1000 });
    if (page.length === 0) return count;
    const applyPage = async () => {
      for (const event of page) {
        for (const projection of PROJECTIONS) await applyToProjection(projection, readModels.collection(projection.collection), event);
      }
    };
    await (readModels.batch ? readModels.batch(applyPage) : applyPage());
    count += page.length;
    after = page.at(-1)!.position;
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
