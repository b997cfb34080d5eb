/**
 * npm run scavenge: apply stream retention to the embedded event store once
 * (what the service does every RETENTION_SCAVENGE_SECONDS): events the policy
 * removes become tombstones in place, then the file gives freed pages back.
 * Safe while the service runs. `npm run scavenge -- --vacuum` also rewrites a
 * file created before retention existed with auto_vacuum=INCREMENTAL (a full
 * VACUUM: run it with the service stopped), so later passes can shrink it.
 * With EventStoreDB retention is the server's own: nothing to do here.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { EvolvingEventStore } from '../src/infra/events/evolving-event-store.js';
import { RetentionScavenger } from '../src/infra/events/retention-scavenger.js';
import { createLogger } from '../src/infra/logger.js';
import { SqliteEventStore } from '../src/infra/sqlite/sqlite-event-store.js';
import { openStores } from '../src/service.js';

const fileSize = (path: string): number => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  if (config.EVENTSTORE_CONNECTION_STRING) {
    console.log('EventStoreDB applies retention itself ($maxAge / $maxCount set on each stream when first written): nothing to scavenge here.');
    return;
  }
  const logger = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
  const stores = await openStores(config, logger);
  const file = join(config.DATA_DIR, 'events.sqlite');
  try {
    const sqlite = stores.events instanceof EvolvingEventStore && stores.events.inner instanceof SqliteEventStore ? stores.events.inner : undefined;
    if (process.argv.includes('--vacuum') && sqlite) {
      const before = fileSize(file);
      if (sqlite.rewriteWithIncrementalVacuum()) console.log(`rewrote ${file} with auto_vacuum=INCREMENTAL: ${before} -> ${fileSize(file)} bytes`);
      else console.log(`${file} already has auto_vacuum=INCREMENTAL`);
    }
    const before = fileSize(file) + fileSize(`${file}-wal`);
    const startedAt = Date.now();
    const report = await RetentionScavenger.fromConfig(stores.events, config, logger).runOnce();
    if (!report) {
      console.log('this event store has no scavenger');
      return;
    }
    console.log(
      `examined ${report.streams} streams, removed ${report.removed} events (tombstones keep their places), ` +
        `freed ${report.bytesFreed ?? 0} bytes in ${((Date.now() - startedAt) / 1000).toFixed(2)} s; ` +
        `file ${before} -> ${fileSize(file) + fileSize(`${file}-wal`)} bytes`,
    );
  } finally {
    await stores.events.close();
    await stores.checkpoints.close();
    await stores.snapshots.close();
    await stores.readModels.close();
  }
}

await main();
