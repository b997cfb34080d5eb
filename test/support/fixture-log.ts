import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { EventMetadata } from '../../src/ports/event-store.js';

/** One line of a fixture log: an event as it was stored (its position is its line). */
export interface FixtureEvent {
  readonly streamName: string;
  readonly revision: number;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}

export interface FixtureLog<Manifest = any> {
  readonly events: readonly FixtureEvent[];
  readonly manifest: Manifest;
}

/** The committed fixtures, in the source tree (tests run from dist/). */
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

/** Read test/fixtures/<name>/events.jsonl and manifest.json. */
export function readFixtureLog(name: string): FixtureLog {
  const dir = join(FIXTURES, name);
  const events = readFileSync(join(dir, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FixtureEvent);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  return { events, manifest };
}

/**
 * Write a fixture log into a fresh event store in dataDir, event by event in
 * its order, each at its recorded revision, with its metadata as it was (so an
 * event written before schema versions still has none).
 */
export async function loadFixtureLog(log: FixtureLog, dataDir: string): Promise<void> {
  const store = new SqliteEventStore(join(dataDir, 'events.sqlite'));
  try {
    for (const event of log.events) {
      await store.appendToStream(event.streamName, [{ type: event.type, data: event.data, metadata: event.metadata }], {
        expectedRevision: event.revision === 0 ? 'no_stream' : event.revision - 1,
      });
    }
  } finally {
    await store.close();
  }
}
