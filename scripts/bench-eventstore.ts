/**
 * Event-store append benchmark (`npm run bench:eventstore`).
 *
 * Measures single-event appends with durable commits (WAL + synchronous=FULL)
 * through SqliteEventStore from 1, 16 and 64 concurrent writers, and in the
 * same run a reference: a plain better-sqlite3 loop of one-row durable
 * transactions with the same pragmas and a comparable row. The interesting
 * figure is the ratio of the two, which is far less machine-dependent than
 * either rate alone.
 *
 * The same cases run on PostgreSQL (PgEventStore, fsync and synchronous_commit
 * on) in the same run: the server DATABASE_URL names, else an embedded one.
 *
 * Every writer appends to its own stream with the exact expected revision and
 * awaits each append before starting the next. Each level gets a fresh
 * database file, a short warm-up, then a fixed measuring window. Everything
 * lives in a fresh temp directory that is deleted at the end.
 *
 *   node dist/scripts/bench-eventstore.js [--seconds N] [--warmup N]
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { v7 as uuidv7 } from 'uuid';
import { SqliteEventStore } from '../src/infra/sqlite/sqlite-event-store.js';
import { PgEventStore } from '../src/infra/postgres/pg-event-store.js';
import type { EventStore, NewEvent } from '../src/ports/event-store.js';
import { freshDatabase, postgresSkipReason } from '../test/support/postgres.js';

const WRITER_LEVELS = [1, 16, 64] as const;
const GOAL_RATIO = 5;
const GOAL_RATE = 30_000;
/** Hard cap on operations per writer per phase, so every loop is bounded. */
const MAX_OPS_PER_WRITER = 5_000_000;

interface Options {
  seconds: number;
  warmupSeconds: number;
}

const usage = 'usage: bench-eventstore [--seconds N (default 4, 0.5..120)] [--warmup N (default 0.5, 0..30)]';

const parseArgs = (argv: readonly string[]): Options => {
  const options: Options = { seconds: 4, warmupSeconds: 0.5 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const readNumber = (min: number, max: number): number => {
      const text = argv[++i];
      const value = Number(text);
      if (text === undefined || !Number.isFinite(value) || value < min || value > max) {
        throw new Error(`${arg} expects a number in [${min}, ${max}], got ${String(text)}\n${usage}`);
      }
      return value;
    };
    if (arg === '--seconds') options.seconds = readNumber(0.5, 120);
    else if (arg === '--warmup') options.warmupSeconds = readNumber(0, 30);
    else if (arg === '--help' || arg === '-h') {
      console.log(usage);
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}\n${usage}`);
  }
  return options;
};

interface Result {
  label: string;
  writers: number | '-';
  count: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
}

/** Nearest-rank percentile of an ascending-sorted sample, in the sample's unit. */
const percentile = (sorted: Float64Array, p: number): number => {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
};

const summarise = (label: string, writers: number | '-', latencies: number[], seconds: number): Result => {
  const sorted = Float64Array.from(latencies).sort();
  return {
    label,
    writers,
    count: latencies.length,
    seconds,
    rate: latencies.length / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
  };
};

// A comparable payload: an organization.created-shaped event.
const makeData = (organizationId: string) => ({
  organizationId,
  name: 'acme-corporation',
  description: 'Benchmark organization',
  tags: ['bench', 'eventstore'],
  spec: { organizationType: 'domain', domain: 'acme.example.com' },
});

// One uuid v7 per event: uuid's v7() draws 16 fresh bytes from
// crypto.getRandomValues on every call (~4 us here), which is harness cost,
// not store cost, so the event id doubles as correlation and causation id.
const makeEvent = (organizationId: string): NewEvent => {
  const eventId = uuidv7();
  return {
    type: 'organization.created',
    data: makeData(organizationId),
    metadata: {
      eventId,
      occurredAt: new Date().toISOString(),
      actor: { subject: 'bench-user', kind: 'user' },
      correlationId: eventId,
      causationId: eventId,
    },
  };
};

const openSqlite = async (dir: string, writers: number): Promise<EventStore> => {
  const store = new SqliteEventStore(join(dir, `store-${writers}.db`));
  const settings = store.durabilitySettings();
  if (settings.journalMode !== 'wal' || settings.synchronous !== 2) {
    await store.close();
    throw new Error(`store is not durable: ${JSON.stringify(settings)}`);
  }
  return store;
};

/** A fresh database on the PostgreSQL of DATABASE_URL, or on an embedded server (as the tests start one); commits must be durable. */
const openPostgres = async (): Promise<EventStore> => {
  const store = await PgEventStore.open(await freshDatabase());
  const settings = await store.pool.query<{ fsync: string; synchronous_commit: string }>(
    "SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit",
  );
  const { fsync, synchronous_commit } = settings.rows[0]!;
  if (fsync !== 'on' || synchronous_commit !== 'on') {
    await store.close();
    throw new Error(`PostgreSQL is not durable: fsync=${fsync}, synchronous_commit=${synchronous_commit}`);
  }
  return store;
};

const benchStore = async (label: string, store: EventStore, writers: number, options: Options): Promise<Result> => {
  try {
    const latencies: number[][] = Array.from({ length: writers }, () => []);
    const start = performance.now();
    const measureFrom = start + options.warmupSeconds * 1000;
    const measureUntil = measureFrom + options.seconds * 1000;
    let lastDone = measureFrom;

    const writer = async (index: number): Promise<void> => {
      const stream = `organization-bench-${writers}-${index}`;
      const mine = latencies[index]!;
      let expectedRevision: 'no_stream' | number = 'no_stream';
      for (let i = 0; i < MAX_OPS_PER_WRITER; i++) {
        const t0 = performance.now();
        if (t0 >= measureUntil) break;
        const event = makeEvent(stream);
        const result = await store.appendToStream(stream, [event], { expectedRevision });
        const t1 = performance.now();
        expectedRevision = result.nextExpectedRevision;
        if (t0 >= measureFrom) {
          mine.push(t1 - t0);
          if (t1 > lastDone) lastDone = t1;
        }
      }
    };

    await Promise.all(Array.from({ length: writers }, (_, i) => writer(i)));
    const seconds = (lastDone - measureFrom) / 1000;
    return summarise(label, writers, latencies.flat(), seconds);
  } finally {
    await store.close();
  }
};

/** One INSERT per durable transaction, same pragmas and schema, no group commit. */
const benchReference = (dir: string, options: Options): Result => {
  const db = new Database(join(dir, 'reference.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const journalMode = String(db.pragma('journal_mode', { simple: true }));
    const synchronous = Number(db.pragma('synchronous', { simple: true }));
    if (journalMode !== 'wal' || synchronous !== 2) throw new Error('reference database is not durable');
    db.exec(`
      CREATE TABLE events (
        position    INTEGER PRIMARY KEY AUTOINCREMENT,
        stream_name TEXT    NOT NULL,
        revision    INTEGER NOT NULL,
        event_id    TEXT    NOT NULL UNIQUE,
        type        TEXT    NOT NULL,
        data        TEXT    NOT NULL,
        metadata    TEXT    NOT NULL,
        UNIQUE (stream_name, revision)
      );
    `);
    const insert = db.prepare(
      'INSERT INTO events (stream_name, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const appendOne = db.transaction((event: NewEvent, revision: number) => {
      insert.run('organization-reference', revision, event.metadata.eventId, event.type, JSON.stringify(event.data), JSON.stringify(event.metadata));
    });

    const latencies: number[] = [];
    const start = performance.now();
    const measureFrom = start + options.warmupSeconds * 1000;
    const measureUntil = measureFrom + options.seconds * 1000;
    let lastDone = measureFrom;
    for (let revision = 0; revision < MAX_OPS_PER_WRITER; revision++) {
      const t0 = performance.now();
      if (t0 >= measureUntil) break;
      appendOne(makeEvent('organization-reference'), revision);
      const t1 = performance.now();
      if (t0 >= measureFrom) {
        latencies.push(t1 - t0);
        lastDone = t1;
      }
    }
    return summarise('better-sqlite3 reference', '-', latencies, (lastDone - measureFrom) / 1000);
  } finally {
    db.close();
  }
};

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number): string => n.toFixed(3);

const printTable = (results: readonly Result[]): void => {
  const header = ['case', 'writers', 'appends', 'seconds', 'appends/s', 'p50 ms', 'p99 ms'];
  const rows = results.map((r) => [
    r.label,
    String(r.writers),
    fmtInt(r.count),
    r.seconds.toFixed(2),
    fmtInt(r.rate),
    fmtMs(r.p50),
    fmtMs(r.p99),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
};

const main = async (): Promise<void> => {
  const options = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'bench-eventstore-'));
  console.log(
    `event-store append benchmark: single-event appends, WAL + synchronous=FULL, ` +
      `${options.warmupSeconds}s warm-up + ${options.seconds}s per case, files in ${dir}`,
  );
  try {
    const results: Result[] = [];
    for (const writers of WRITER_LEVELS) {
      const result = await benchStore('SqliteEventStore', await openSqlite(dir, writers), writers, options);
      results.push(result);
      console.log(`  done: ${writers} writer(s), ${fmtInt(result.rate)} appends/s`);
    }
    // PostgreSQL beside it (docs/postgres.md): DATABASE_URL's server, else an embedded one; skipped when neither runs.
    const postgresSkip = await postgresSkipReason();
    if (postgresSkip) console.log(`  ${postgresSkip}`);
    else {
      for (const writers of WRITER_LEVELS) {
        const result = await benchStore('PgEventStore', await openPostgres(), writers, options);
        results.push(result);
        console.log(`  done: PostgreSQL, ${writers} writer(s), ${fmtInt(result.rate)} appends/s`);
      }
    }
    const reference = benchReference(dir, options);
    results.push(reference);
    console.log(`  done: reference, ${fmtInt(reference.rate)} transactions/s`);
    console.log();
    printTable(results);

    const at64 = results.find((r) => r.label === 'SqliteEventStore' && r.writers === 64)!;
    const ratio = at64.rate / reference.rate;
    const ratioMet = ratio >= GOAL_RATIO;
    const rateMet = at64.rate >= GOAL_RATE;
    console.log();
    console.log(`64 writers / reference: ${ratio.toFixed(2)}x`);
    console.log(`goal: at 64 writers >= ${GOAL_RATIO}x the reference: ${ratioMet ? 'MET' : 'NOT MET'} (${ratio.toFixed(2)}x)`);
    console.log(
      `goal: at 64 writers >= ${fmtInt(GOAL_RATE)} events/s: ${rateMet ? 'MET' : 'NOT MET'} (${fmtInt(at64.rate)}/s)`,
    );
    console.log(`overall: ${ratioMet && rateMet ? 'goals met' : 'goals NOT met'}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
