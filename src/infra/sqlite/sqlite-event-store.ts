import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { eventLeafHash } from '../../domain/ledger/leaf.js';
import { eventDigest, TOMBSTONE_EVENT_TYPE } from '../../domain/retention.js';
import { openDatabase } from './open-database.js';
import {
  type AppendResult,
  denseRange,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type ScavengeOptions,
  type ScavengePolicy,
  type ScavengeReport,
  type SubscribeOptions,
  type Subscription,
  WrongExpectedRevisionError,
} from '../../ports/event-store.js';
import { rememberStoredJson } from '../../ports/stored-json.js';
import type { AppendObserver } from '../../ports/append-observer.js';

export interface EventRow {
  position: number | bigint;
  stream_name: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
}

interface PendingAppend {
  streamName: string;
  events: readonly NewEvent[];
  expectedRevision: ExpectedRevision;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_name TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    event_id    TEXT    NOT NULL UNIQUE,
    type        TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    metadata    TEXT    NOT NULL,
    UNIQUE (stream_name, revision)
  );
`;

const PAGE_SIZE = 1000;
/** Streams the scavenger examines per transaction, and tombstones it writes at most: a transaction stays short (the event loop waits for it). */
const SCAVENGE_STREAMS_PER_PAGE = 100;
const SCAVENGE_ROWS_PER_PAGE = 128;
/** Pages the incremental vacuum gives back per step (1 MiB of 4 KiB pages), with a yield between steps. */
const VACUUM_PAGES_PER_STEP = 256;
/** A removed event among the recent events in memory: its position is skipped. */
const TOMBSTONE = null;
/** A tombstone's metadata: nothing of the original (its hash is in the data). */
const TOMBSTONE_METADATA = '{}';
/** How many of the newest events subscriptions can read from memory instead of the database. */
const RECENT_EVENTS = 8192;

const toPosition = (value: number | bigint): GlobalPosition => {
  const n = BigInt(value);
  return { commit: n, prepare: n };
};

/** A stored row as a recorded event (also what the ledger's worker thread reads from the file). */
export const toRecorded = (row: EventRow): RecordedEvent => ({
  streamName: row.stream_name,
  revision: row.revision,
  position: toPosition(row.position),
  type: row.type,
  data: JSON.parse(row.data),
  metadata: JSON.parse(row.metadata),
});

/**
 * A committed row among the recent events: `data` and `metadata` are parsed
 * when first read, once for every subscriber. A subscriber that needs only
 * positions (the ledger builder, whose worker thread reads the file) never
 * pays for them; every append used to parse its row again right after
 * writing it (docs/benchmarks.md, Ledger).
 */
const toRecordedOnDemand = (row: EventRow): RecordedEvent => {
  // The texts are dropped once parsed: the cache holds one form of each event, not both.
  let dataText: string | undefined = row.data;
  let metadataText: string | undefined = row.metadata;
  let data: unknown;
  let metadata: RecordedEvent['metadata'] | undefined;
  return {
    streamName: row.stream_name,
    revision: row.revision,
    position: toPosition(row.position),
    type: row.type,
    get data() {
      if (dataText !== undefined) {
        data = JSON.parse(dataText);
        dataText = undefined;
      }
      return data;
    },
    get metadata() {
      if (metadataText !== undefined) {
        metadata = JSON.parse(metadataText) as RecordedEvent['metadata'];
        metadataText = undefined;
      }
      return metadata!;
    },
  };
};

/**
 * A row read by position: parsed when first read, as a recent event, and its
 * stored text kept beside it (an export may only copy that text:
 * src/ports/stored-json.ts).
 */
const toRecordedLazily = (row: EventRow): RecordedEvent => {
  const event = toRecordedOnDemand(row);
  rememberStoredJson(event, { data: row.data, metadata: row.metadata });
  return event;
};

/**
 * The embedded event store: one SQLite table, WAL journal, fsync on every
 * commit. Appends that arrive within one turn of the event loop are committed
 * together in a single transaction (group commit), each with its own
 * expected-revision check, so one fsync serves many writers and a failed check
 * rejects only its own append.
 */
export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private readonly committed = new EventEmitter();
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  private closed = false;
  /**
   * The newest committed events, parsed once (when first read): the
   * projections and every process manager subscribe to the log, and live
   * delivery then costs them neither a query nor a JSON parse each. Keyed by
   * position.
   */
  private readonly recent = new Map<number, RecordedEvent | typeof TOMBSTONE>();
  /**
   * The newest position committed through this store (or found at open): a live subscription whose
   * cursor is there has nothing to read until the next commit, so it sleeps without a query. Every
   * subscriber (projections, process managers, the ledger builder) used to run one per commit.
   */
  private newest = 0;
  /** Rows inserted by the batch being committed, cached once the commit succeeds. */
  private uncommitted: EventRow[] = [];
  /** Told about every group commit (the metrics); none by default. */
  private observer?: AppendObserver;

  private readonly statements: {
    currentRevision: Database.Statement<[string], { revision: number | null }>;
    insert: Database.Statement<[string, number, string, string, string, string]>;
    readForwards: Database.Statement<[string, number, number], EventRow>;
    readBackwards: Database.Statement<[string, number, number], EventRow>;
    readAll: Database.Statement<[number | bigint, number], EventRow>;
    readRange: Database.Statement<[bigint, bigint], EventRow>;
    head: Database.Statement<[], { position: number | bigint | null }>;
    nextStream: Database.Statement<[string, string], { stream_name: string }>;
    liveEvents: Database.Statement<[string], EventRow>;
    remove: Database.Statement<[number | bigint]>;
    tombstone: Database.Statement<[number | bigint, string, number, string, string]>;
  };

  constructor(readonly filename: string) {
    this.db = openDatabase(filename, { synchronous: 'FULL', schema: SCHEMA, incrementalVacuum: true });
    this.db.defaultSafeIntegers(false);
    this.committed.setMaxListeners(0);
    this.statements = {
      currentRevision: this.db.prepare('SELECT MAX(revision) AS revision FROM events WHERE stream_name = ?'),
      insert: this.db.prepare(
        'INSERT INTO events (stream_name, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      // Tombstones (retention) keep their position and revision but are never read.
      readForwards: this.db.prepare(
        `SELECT * FROM events WHERE stream_name = ? AND revision >= ? AND type <> '${TOMBSTONE_EVENT_TYPE}' ORDER BY revision ASC LIMIT ?`,
      ),
      readBackwards: this.db.prepare(
        `SELECT * FROM events WHERE stream_name = ? AND revision <= ? AND type <> '${TOMBSTONE_EVENT_TYPE}' ORDER BY revision DESC LIMIT ?`,
      ),
      readAll: this.db.prepare(`SELECT * FROM events WHERE position > ? AND type <> '${TOMBSTONE_EVENT_TYPE}' ORDER BY position ASC LIMIT ?`),
      // Tombstones too (readPositions).
      readRange: this.db.prepare('SELECT * FROM events WHERE position BETWEEN ? AND ? ORDER BY position'),
      head: this.db.prepare('SELECT MAX(position) AS position FROM events'),
      // One seek in the (stream_name, revision) index per stream: past every row of the previous one.
      nextStream: this.db.prepare('SELECT stream_name FROM events WHERE stream_name > ? AND stream_name < ? ORDER BY stream_name LIMIT 1'),
      liveEvents: this.db.prepare(`SELECT * FROM events WHERE stream_name = ? AND type <> '${TOMBSTONE_EVENT_TYPE}' ORDER BY revision ASC`),
      // Deleted and inserted again at the same position (not updated: a row that shrinks in
      // place leaves its page as full as it was; a delete lets SQLite merge emptied pages).
      remove: this.db.prepare('DELETE FROM events WHERE position = ?'),
      tombstone: this.db.prepare(
        `INSERT INTO events (position, stream_name, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, '${TOMBSTONE_EVENT_TYPE}', ?, '${TOMBSTONE_METADATA}')`,
      ),
    };
    this.newest = Number(this.statements.head.get()?.position ?? 0);
  }

  /** The pragma values in force, for the durability contract test. */
  durabilitySettings(): { journalMode: string; synchronous: number } {
    return {
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.db.pragma('synchronous', { simple: true })),
    };
  }

  /** Report every group commit (its size and duration) to `observer`, e.g. the metrics. */
  observeCommits(observer: AppendObserver | undefined): void {
    this.observer = observer;
  }

  appendToStream(
    streamName: string,
    events: readonly NewEvent[],
    options: { expectedRevision: ExpectedRevision },
  ): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error('event store is closed'));
    if (events.length === 0) return Promise.reject(new Error('nothing to append'));
    return new Promise((resolve, reject) => {
      this.pending.push({ streamName, events, expectedRevision: options.expectedRevision, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;

    const outcomes: Array<{ ok: true; result: AppendResult } | { ok: false; error: unknown }> = [];
    const commitBatch = this.db.transaction(() => {
      for (const append of batch) outcomes.push(this.tryAppend(append));
    });
    this.uncommitted = [];
    const observer = this.observer;
    const started = observer ? performance.now() : 0;
    try {
      commitBatch();
    } catch (error) {
      // The transaction rolled back: nothing of this batch is in the log.
      this.uncommitted = [];
      observer?.committed({ appends: batch.length, events: 0, conflicts: 0, seconds: (performance.now() - started) / 1000, failed: true });
      for (const append of batch) append.reject(error);
      return;
    }
    if (observer) {
      let conflicts = 0;
      for (const outcome of outcomes) if (!outcome.ok) conflicts++;
      observer.committed({ appends: batch.length, events: this.uncommitted.length, conflicts, seconds: (performance.now() - started) / 1000, failed: false });
    }
    this.remember(this.uncommitted);
    this.uncommitted = [];
    batch.forEach((append, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) append.resolve(outcome.result);
      else append.reject(outcome.error);
    });
    this.committed.emit('commit');
  }

  private tryAppend(append: PendingAppend): { ok: true; result: AppendResult } | { ok: false; error: unknown } {
    const current = this.statements.currentRevision.get(append.streamName)?.revision ?? null;
    const expected = append.expectedRevision;
    const matches =
      expected === 'any' || (expected === 'no_stream' ? current === null : current === expected);
    if (!matches) {
      return { ok: false, error: new WrongExpectedRevisionError(append.streamName, expected, current ?? 'no_stream') };
    }
    let revision = current ?? -1;
    let position: number | bigint = 0;
    for (const event of append.events) {
      revision += 1;
      const data = JSON.stringify(event.data);
      const metadata = JSON.stringify(event.metadata);
      position = this.statements.insert.run(append.streamName, revision, event.metadata.eventId, event.type, data, metadata).lastInsertRowid;
      this.uncommitted.push({ position, stream_name: append.streamName, revision, type: event.type, data, metadata });
    }
    return { ok: true, result: { nextExpectedRevision: revision, position: toPosition(position) } };
  }

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const limit = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    const rows =
      options.direction === 'backwards'
        ? this.statements.readBackwards.all(streamName, options.fromRevision ?? Number.MAX_SAFE_INTEGER, limit)
        : this.statements.readForwards.all(streamName, options.fromRevision ?? 0, limit);
    return rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return this.readPage(options.after, options.maxCount ?? PAGE_SIZE);
  }

  /** One `WHERE position IN (...)` per 500 positions; tombstones left out. */
  private readonly positionStatements = new Map<number, Database.Statement>();
  /** The statement reading `size` positions: prepared once per size (a full chunk, and a few shorter last ones). */
  private positionsStatement(size: number): Database.Statement {
    let statement = this.positionStatements.get(size);
    if (!statement) {
      statement = this.db.prepare(`SELECT * FROM events WHERE position IN (${Array.from({ length: size }, () => '?').join(',')}) ORDER BY position`);
      if (this.positionStatements.size < 16) this.positionStatements.set(size, statement);
    }
    return statement;
  }

  async readPositions(positions: readonly GlobalPosition[]): Promise<RecordedEvent[]> {
    const result: RecordedEvent[] = [];
    if (positions.length === 0) return result;
    // Dense positions (an export of the whole log, or of a busy filter): one range read in position
    // order, the rows not asked for skipped, instead of one B-tree seek per bound parameter.
    const range = denseRange(positions);
    if (range) {
      const wanted = range.exact ? undefined : new Set(positions.map((p) => Number(p.commit)));
      for (const row of this.statements.readRange.all(range.low, range.high)) {
        if (wanted === undefined || wanted.has(Number(row.position))) result.push(toRecordedLazily(row));
      }
      return result;
    }
    for (let start = 0; start < positions.length; start += 500) {
      const chunk = positions.slice(start, start + 500).map((p) => p.commit);
      // Tombstones too: an event retention removed after the audit index filed it keeps its place (and leaf hash) in exports.
      const rows = this.positionsStatement(chunk.length).all(...chunk) as EventRow[];
      for (const row of rows) result.push(toRecordedLazily(row));
    }
    return result;
  }

  private remember(rows: readonly EventRow[]): void {
    for (const row of rows) this.recent.set(Number(row.position), toRecordedOnDemand(row));
    if (rows.length > 0) this.newest = Math.max(this.newest, Number(rows[rows.length - 1]!.position));
    // Maps iterate in insertion order, which is position order here: drop the oldest.
    for (const position of this.recent.keys()) {
      if (this.recent.size <= RECENT_EVENTS) break;
      this.recent.delete(position);
    }
  }

  private readPage(after: GlobalPosition | undefined, limit: number): RecordedEvent[] {
    // Positions have no gaps (a removed event stays as a tombstone, marked as such here by the
    // scavenger and skipped), so a run of cached positions right after `after` is exactly what
    // the query would answer; anything older comes from the database.
    const page: RecordedEvent[] = [];
    for (let next = (after ? Number(after.commit) : 0) + 1; page.length < limit; next++) {
      const event = this.recent.get(next);
      if (event === undefined) break;
      if (event !== TOMBSTONE) page.push(event);
    }
    if (page.length > 0) return page;
    return this.statements.readAll.all(after ? after.commit : 0, limit).map(toRecorded);
  }

  async headPosition(): Promise<GlobalPosition | undefined> {
    const row = this.statements.head.get();
    return row?.position == null ? undefined : toPosition(row.position);
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    const store = this;
    let closed = false;
    let wake: (() => void) | undefined;
    const onCommit = () => wake?.();
    this.committed.on('commit', onCommit);

    // Catch-up and live delivery are one loop: read a page after the last
    // delivered position; when the page is empty, sleep until the next commit.
    // The cursor only moves forward, so the switch has neither gap nor duplicate.
    async function* deliver(): AsyncGenerator<RecordedEvent> {
      let cursor = options.after;
      try {
        while (!closed && !store.closed) {
          const caughtUp = cursor !== undefined && Number(cursor.commit) >= store.newest;
          const page = caughtUp ? [] : store.readPage(cursor, PAGE_SIZE);
          if (page.length === 0) {
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
            continue;
          }
          for (const event of page) {
            if (closed) return;
            cursor = event.position;
            yield event;
          }
        }
      } finally {
        store.committed.off('commit', onCommit);
      }
    }

    const iterator = deliver();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => {
        closed = true;
        wake?.();
        store.committed.off('commit', onCommit);
      },
    };
  }

  /**
   * Apply a retention policy: walk the streams of its categories (one index
   * seek per stream), a page of streams per transaction with a yield between
   * pages, and replace every event the policy removes by a tombstone in
   * place: same position, same revision, same event id, type `$tombstone`,
   * data the SHA-256 of the original (type, data and metadata as stored).
   * Each page reads and writes in one synchronous transaction, so an append
   * (always a newer revision; the policy never removes a stream's newest
   * event) cannot interleave with a decision. Idempotent: a tombstone is
   * never read again. Then the file gives freed pages back (incremental
   * vacuum, on files created with it).
   */
  async scavenge(policy: ScavengePolicy, options: ScavengeOptions = {}): Promise<ScavengeReport> {
    const perPage = options.streamsPerPage ?? SCAVENGE_STREAMS_PER_PAGE;
    let streams = 0;
    let removed = 0;
    const maxRows = options.rowsPerPage ?? SCAVENGE_ROWS_PER_PAGE;
    const scavengePage = this.db.transaction((prefix: string, after: string, now: Date) => {
      // The category's streams are the names from `prefix` up to (excluding) the prefix with its last character bumped.
      const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
      let cursor = after;
      let examined = 0;
      const gone: number[] = [];
      while (examined < perPage && gone.length < maxRows) {
        const next = this.statements.nextStream.get(cursor === '' ? prefix : cursor, end);
        if (!next || !next.stream_name.startsWith(prefix)) return { cursor: undefined, examined, gone };
        const stream = next.stream_name;
        const rows = this.statements.liveEvents.all(stream);
        const byRevision = new Map(rows.map((row) => [row.revision, row]));
        // Whatever a policy says, a stream's newest event stays: it is the stream's state, and the log's head is never a tombstone.
        const newest = rows[rows.length - 1]?.revision;
        const removable = policy.removable(stream, rows.map(toRecorded), now).filter((revision) => revision !== newest);
        // A bounded transaction: a stream with more than the page can take is finished by the next pages.
        const batch = removable.slice(0, maxRows - gone.length);
        for (const revision of batch) {
          const row = byRevision.get(revision);
          if (!row) continue;
          const original = toRecorded(row);
          const sha256 = eventDigest(original);
          // The verifiable log's leaf of the original (docs/ledger.md): the tree and the verifier keep it in place.
          const leafHash = eventLeafHash(original).toString('base64');
          this.statements.remove.run(row.position);
          this.statements.tombstone.run(row.position, stream, revision, (row as EventRow & { event_id: string }).event_id, JSON.stringify({ sha256, leafHash }));
          gone.push(Number(row.position));
        }
        if (batch.length < removable.length) break; // the same stream again, next page
        cursor = stream;
        examined++;
      }
      return { cursor, examined, gone };
    });
    for (const prefix of policy.categories) {
      let after = '';
      for (;;) {
        if (this.closed) return { streams, removed };
        const page = scavengePage(prefix, after, options.now ?? new Date());
        streams += page.examined;
        removed += page.gone.length;
        for (const position of page.gone) if (this.recent.has(position)) this.recent.set(position, TOMBSTONE);
        if (page.cursor === undefined) break;
        after = page.cursor;
        await yieldToEventLoop();
      }
    }
    const bytesFreed = await this.vacuumFreePages();
    return { streams, removed, bytesFreed };
  }

  /** Give the file's free pages back to the file system, a step at a time (only files created with auto_vacuum=INCREMENTAL can). */
  async vacuumFreePages(): Promise<number> {
    if (this.closed || Number(this.db.pragma('auto_vacuum', { simple: true })) !== 2) return 0;
    const pageSize = Number(this.db.pragma('page_size', { simple: true }));
    let freed = 0;
    for (;;) {
      if (this.closed) return freed;
      const free = Number(this.db.pragma('freelist_count', { simple: true }));
      if (free === 0) break;
      this.db.pragma(`incremental_vacuum(${Math.min(free, VACUUM_PAGES_PER_STEP)})`);
      freed += (free - Number(this.db.pragma('freelist_count', { simple: true }))) * pageSize;
      await yieldToEventLoop();
    }
    // With WAL the file shrinks when the log is checkpointed into it.
    if (freed > 0) this.db.pragma('wal_checkpoint(PASSIVE)');
    return freed;
  }

  /**
   * Rewrite a file created before retention (auto_vacuum off) so that freed
   * pages can be given back: a full VACUUM, which blocks and needs as much
   * free disk as the file; for `npm run scavenge -- --vacuum` with the service stopped.
   */
  rewriteWithIncrementalVacuum(): boolean {
    if (Number(this.db.pragma('auto_vacuum', { simple: true })) === 2) return false;
    this.db.pragma('auto_vacuum = INCREMENTAL');
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let appends already queued reach the disk before closing.
    if (this.pending.length > 0) this.flush();
    this.closed = true;
    this.committed.emit('commit');
    this.db.close();
  }
}
