import { EventEmitter } from 'node:events';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import pg from 'pg';
import { eventLeafHash } from '../../domain/ledger/leaf.js';
import { eventDigest, TOMBSTONE_EVENT_TYPE } from '../../domain/retention.js';
import {
  type AppendResult,
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
import { APPEND_LOCK, createPool, ensureSchema, EVENTS_CHANNEL } from './pg-schema.js';
import type { AppendObserver } from '../../ports/append-observer.js';
import { PgListener } from './pg-listener.js';

interface EventRow {
  position: string;
  stream_name: string;
  revision: number;
  event_id?: string;
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

type Outcome = { ok: true; result: AppendResult } | { ok: false; error: unknown };

/** COMMIT itself failed (a lost connection): the batch may or may not be in the log, so it is not retried. */
class CommitOutcomeUnknown extends Error {
  override readonly name = 'CommitOutcomeUnknown';
  constructor(override readonly cause: unknown) {
    super(`commit outcome unknown: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

export interface PgEventStoreOptions {
  /** How often subscribers look for new events when no notification came (LISTEN/NOTIFY is the fast path). Default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** Connections of the store's pool (when it makes one). Default 10. */
  readonly poolSize?: number;
}

const PAGE_SIZE = 1000;
/** How many of the newest events are kept in memory for subscribers. */
const RECENT_EVENTS = 8192;
const SCAVENGE_STREAMS_PER_PAGE = 100;
const SCAVENGE_ROWS_PER_PAGE = 128;
const TOMBSTONE_METADATA = '{}';
const COLUMNS = 'position, stream_name, revision, type, data, metadata';

const toPosition = (value: bigint): GlobalPosition => ({ commit: value, prepare: value });

const toRecorded = (row: EventRow): RecordedEvent => ({
  streamName: row.stream_name,
  revision: row.revision,
  position: toPosition(BigInt(row.position)),
  type: row.type,
  data: JSON.parse(row.data),
  metadata: JSON.parse(row.metadata),
});

/**
 * The event store on PostgreSQL (docs/postgres.md), for several instances
 * sharing one log.
 *
 * Positions follow commit order: every append transaction takes one
 * transaction-level advisory lock before it reads the head, numbers its
 * events head+1, head+2, ... and holds the lock until it has committed. So a
 * position is never visible before a lower one, positions have no gaps, and
 * a reader that has seen position p has seen everything below it: a
 * subscriber cannot skip an event that commits late.
 *
 * Group commit: appends that arrive while a transaction is in flight wait
 * and go together in the next one, each with its own expected-revision check
 * (a failed check rejects only its own append).
 *
 * Subscribers share one tail of the log in memory, advanced by this process's
 * own commits, by NOTIFY from other processes, and by a poll as a fallback.
 */
export class PgEventStore implements EventStore {
  /** Counters (tests, benchmarks, metrics): transactions committed, appends and events in them. */
  readonly stats = { batches: 0, appends: 0, events: 0 };
  private observer: AppendObserver | undefined;

  /** Report every transaction (its size and duration) to `observer`, e.g. the metrics. */
  observeCommits(observer: AppendObserver | undefined): void {
    this.observer = observer;
  }
  private pending: PendingAppend[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly advanced = new EventEmitter();

  /** The tail in memory: every event with a position in (recentFrom, tail], in position order (tombstones left out). */
  private recent: RecordedEvent[] = [];
  private recentFrom: bigint;
  private tail: bigint;
  private tailing: Promise<void> | undefined;
  private tailAgain = false;

  private listener: PgListener | undefined;
  private readonly poll: NodeJS.Timeout;

  private constructor(
    readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
    private readonly connectionString: string | undefined,
    head: bigint,
    options: PgEventStoreOptions,
  ) {
    this.tail = head;
    this.recentFrom = head;
    this.advanced.setMaxListeners(0);
    this.poll = setInterval(() => this.wakeTail(), options.pollIntervalMs ?? 1000);
    this.poll.unref();
  }

  /** Open the store on the database at `connectionString` (its own pool), creating the schema if needed. */
  static async open(connectionString: string, options: PgEventStoreOptions = {}): Promise<PgEventStore> {
    const pool = createPool(connectionString, options.poolSize ?? 10);
    try {
      return await PgEventStore.create(pool, true, connectionString, options);
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
  }

  /** Open the store on a pool it does not own (close() leaves the pool open). `connectionString` is for the listener: without it, subscribers poll. */
  static async usingPool(pool: pg.Pool, options: PgEventStoreOptions & { connectionString?: string } = {}): Promise<PgEventStore> {
    return PgEventStore.create(pool, false, options.connectionString, options);
  }

  private static async create(pool: pg.Pool, ownsPool: boolean, connectionString: string | undefined, options: PgEventStoreOptions): Promise<PgEventStore> {
    await ensureSchema(pool);
    const head = await pool.query<{ head: string | null }>('SELECT MAX(position) AS head FROM events');
    const store = new PgEventStore(pool, ownsPool, connectionString, BigInt(head.rows[0]?.head ?? 0), options);
    await store.listen();
    return store;
  }

  /** LISTEN on a connection of its own; reconnects after a loss (the poll covers the gap). */
  private async listen(): Promise<void> {
    if (this.closed || !this.connectionString) return;
    this.listener = new PgListener({
      connectionString: this.connectionString,
      channel: EVENTS_CHANNEL,
      applicationName: 'identity-service events listener',
      // The payload is the head the committing transaction reached: nothing to read when we are there already.
      onNotification: (payload) => {
        if (BigInt(payload) > this.tail) this.wakeTail();
      },
      // Anything committed before LISTEN took effect, or while it was down.
      onListening: () => this.wakeTail(),
      onLost: () => this.wakeTail(),
    });
    await this.listener.start();
  }

  appendToStream(streamName: string, events: readonly NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error('event store is closed'));
    if (events.length === 0) return Promise.reject(new Error('nothing to append'));
    return new Promise((resolve, reject) => {
      this.pending.push({ streamName, events, expectedRevision: options.expectedRevision, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** One transaction at a time; whatever arrived meanwhile goes in the next (group commit). */
  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      // Let the appends of this turn of the event loop join the batch.
      await yieldToEventLoop();
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        await this.commitBatch(batch);
      }
    })().finally(() => {
      this.flushing = undefined;
      if (this.pending.length > 0) this.scheduleFlush();
    });
  }

  private async commitBatch(batch: PendingAppend[]): Promise<void> {
    let outcomes: Outcome[];
    const started = performance.now();
    try {
      outcomes = await this.runBatch(batch);
      const conflicts = outcomes.filter((o) => !o.ok).length;
      const events = batch.reduce((sum, append, i) => sum + (outcomes[i]!.ok ? append.events.length : 0), 0);
      this.observer?.committed({ appends: batch.length, events, conflicts, seconds: (performance.now() - started) / 1000, failed: false });
    } catch (error) {
      this.observer?.committed({ appends: batch.length, events: 0, conflicts: 0, seconds: (performance.now() - started) / 1000, failed: true });
      if (error instanceof CommitOutcomeUnknown) {
        for (const append of batch) append.reject(error.cause);
        return;
      }
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // The transaction rolled back (a duplicate event id, a lost connection): each append alone, so one bad append fails only itself.
      for (const append of batch) await this.commitBatch([append]);
      return;
    }
    batch.forEach((append, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) append.resolve(outcome.result);
      else append.reject(outcome.error);
    });
  }

  private async runBatch(batch: PendingAppend[]): Promise<Outcome[]> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      // The lock before anything is read: the head and the revisions are read by a later statement, which sees every earlier
      // holder's commit (READ COMMITTED whatever the database's default: a snapshot per statement, not one from before the lock).
      await client.query(`BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(${APPEND_LOCK})`);
      const streams = [...new Set(batch.map((a) => a.streamName))];
      const state = await client.query<{ head: string | null; stream_name: string | null; revision: number | null }>(
        `SELECT (SELECT MAX(position) FROM events) AS head, s.name AS stream_name,
                (SELECT MAX(revision) FROM events e WHERE e.stream_name = s.name) AS revision
           FROM unnest($1::text[]) AS s(name)`,
        [streams],
      );
      const head = BigInt(state.rows[0]?.head ?? 0);
      const revisions = new Map<string, number | null>(state.rows.map((row) => [row.stream_name!, row.revision]));

      const outcomes: Outcome[] = [];
      const rows: EventRow[] = [];
      let position = head;
      for (const append of batch) {
        const current = revisions.get(append.streamName) ?? null;
        const expected = append.expectedRevision;
        const matches = expected === 'any' || (expected === 'no_stream' ? current === null : current === expected);
        if (!matches) {
          outcomes.push({ ok: false, error: new WrongExpectedRevisionError(append.streamName, expected, current ?? 'no_stream') });
          continue;
        }
        let revision = current ?? -1;
        for (const event of append.events) {
          revision += 1;
          position += 1n;
          rows.push({
            position: position.toString(),
            stream_name: append.streamName,
            revision,
            event_id: event.metadata.eventId,
            type: event.type,
            data: JSON.stringify(event.data),
            metadata: JSON.stringify(event.metadata),
          });
        }
        revisions.set(append.streamName, revision);
        outcomes.push({ ok: true, result: { nextExpectedRevision: revision, position: toPosition(position) } });
      }
      if (rows.length > 0) {
        await client.query(
          `WITH inserted AS (
             INSERT INTO events (position, stream_name, revision, event_id, type, data, metadata)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[])
             RETURNING position)
           SELECT pg_notify('${EVENTS_CHANNEL}', $8)`,
          [
            rows.map((r) => r.position),
            rows.map((r) => r.stream_name),
            rows.map((r) => r.revision),
            rows.map((r) => r.event_id),
            rows.map((r) => r.type),
            rows.map((r) => r.data),
            rows.map((r) => r.metadata),
            position.toString(),
          ],
        );
      }
      try {
        await client.query('COMMIT');
      } catch (error) {
        broken = true;
        throw new CommitOutcomeUnknown(error);
      }
      this.stats.batches++;
      this.stats.appends += outcomes.filter((o) => o.ok).length;
      this.stats.events += rows.length;
      if (rows.length > 0) this.extendTail(head, rows);
      return outcomes;
    } catch (error) {
      if (!broken) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /** Our own commit: straight into the tail when it continues it (no query); otherwise the tail reads it. */
  private extendTail(before: bigint, rows: readonly EventRow[]): void {
    if (this.tail === before) this.advanceTail(rows);
    else this.wakeTail();
  }

  private advanceTail(rows: readonly EventRow[]): void {
    let moved = false;
    for (const row of rows) {
      const position = BigInt(row.position);
      if (position <= this.tail) continue;
      this.tail = position;
      moved = true;
      if (row.type !== TOMBSTONE_EVENT_TYPE) this.recent.push(toRecorded(row));
    }
    if (this.recent.length > RECENT_EVENTS) {
      const dropped = this.recent.splice(0, this.recent.length - RECENT_EVENTS);
      this.recentFrom = dropped[dropped.length - 1]!.position.commit;
    }
    if (moved) this.advanced.emit('advanced');
  }

  /** Read what others committed after the tail (one reader at a time; a wake during a read reads again). */
  private wakeTail(): void {
    if (this.closed) return;
    if (this.tailing) {
      this.tailAgain = true;
      return;
    }
    this.tailing = (async () => {
      do {
        this.tailAgain = false;
        for (;;) {
          const from = this.tail;
          const result = await this.pool.query<EventRow>(`SELECT ${COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT ${PAGE_SIZE}`, [from.toString()]);
          if (this.closed) return;
          this.advanceTail(result.rows);
          if (result.rows.length < PAGE_SIZE) break;
        }
      } while (this.tailAgain && !this.closed);
    })()
      .catch(() => {
        // The next notification or poll tries again.
      })
      .finally(() => {
        this.tailing = undefined;
      });
  }

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const limit = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    const backwards = options.direction === 'backwards';
    const result = await this.pool.query<EventRow>(
      `SELECT ${COLUMNS} FROM events
        WHERE stream_name = $1 AND revision ${backwards ? '<=' : '>='} $2 AND type <> '${TOMBSTONE_EVENT_TYPE}'
        ORDER BY revision ${backwards ? 'DESC' : 'ASC'} LIMIT $3`,
      [streamName, backwards ? (options.fromRevision ?? 2147483647) : (options.fromRevision ?? 0), Math.min(limit, 2 ** 62)],
    );
    return result.rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return this.readPage(options.after?.commit ?? 0n, undefined, options.maxCount ?? PAGE_SIZE);
  }

  private async readPage(after: bigint, upTo: bigint | undefined, limit: number): Promise<RecordedEvent[]> {
    const result = await this.pool.query<EventRow>(
      `SELECT ${COLUMNS} FROM events WHERE position > $1 ${upTo === undefined ? '' : 'AND position <= $3'} AND type <> '${TOMBSTONE_EVENT_TYPE}'
        ORDER BY position LIMIT $2`,
      upTo === undefined ? [after.toString(), limit] : [after.toString(), limit, upTo.toString()],
    );
    return result.rows.map(toRecorded);
  }

  async readPositions(positions: readonly GlobalPosition[]): Promise<RecordedEvent[]> {
    const result: RecordedEvent[] = [];
    for (let start = 0; start < positions.length; start += 500) {
      const chunk = positions.slice(start, start + 500).map((p) => p.commit.toString());
      // Tombstones too, as SQLite answers them: an event retention removed keeps its place (and leaf hash) in exports.
      const rows = await this.pool.query<EventRow>(`SELECT ${COLUMNS} FROM events WHERE position = ANY($1::bigint[]) ORDER BY position`, [chunk]);
      for (const row of rows.rows) result.push(toRecorded(row));
    }
    return result;
  }

  async headPosition(): Promise<GlobalPosition | undefined> {
    const result = await this.pool.query<{ head: string | null }>('SELECT MAX(position) AS head FROM events');
    const head = result.rows[0]?.head;
    return head == null ? undefined : toPosition(BigInt(head));
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    const store = this;
    let closed = false;
    let wake: (() => void) | undefined;
    const onAdvance = () => wake?.();
    this.advanced.on('advanced', onAdvance);

    // One cursor that only moves forward: from the database while it is behind
    // the tail in memory, from memory after that, then waiting for the tail to
    // move. Positions follow commit order, so nothing below the tail is still to come.
    async function* deliver(): AsyncGenerator<RecordedEvent> {
      let cursor = options.after?.commit ?? 0n;
      try {
        while (!closed && !store.closed) {
          let page: RecordedEvent[];
          let reached: bigint;
          if (cursor < store.recentFrom) {
            const upTo = store.recentFrom;
            page = await store.readPage(cursor, upTo, PAGE_SIZE);
            reached = page.length < PAGE_SIZE ? upTo : page[page.length - 1]!.position.commit;
          } else if (cursor < store.tail) {
            reached = store.tail;
            page = store.recentAfter(cursor);
          } else {
            // Registered before the check above could miss an advance: advances only happen between turns.
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
            continue;
          }
          for (const event of page) {
            if (closed) return;
            cursor = event.position.commit;
            yield event;
          }
          if (reached > cursor) cursor = reached;
        }
      } finally {
        store.advanced.off('advanced', onAdvance);
      }
    }

    const iterator = deliver();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => {
        closed = true;
        wake?.();
        store.advanced.off('advanced', onAdvance);
      },
    };
  }

  /** The events in memory after `cursor` (which is at least recentFrom), as a copy. */
  private recentAfter(cursor: bigint): RecordedEvent[] {
    let low = 0;
    let high = this.recent.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.recent[mid]!.position.commit <= cursor) low = mid + 1;
      else high = mid;
    }
    return this.recent.slice(low);
  }

  /**
   * Apply a retention policy as the SQLite store does: the streams of each
   * category a page at a time, each removable event (never a stream's newest)
   * replaced in place by a tombstone with the same position, revision and
   * event id, carrying the SHA-256 and ledger leaf hash of the original.
   * Idempotent, and safe beside appends and beside another instance
   * scavenging (an event already a tombstone is not touched again).
   */
  async scavenge(policy: ScavengePolicy, options: ScavengeOptions = {}): Promise<ScavengeReport> {
    const perPage = options.streamsPerPage ?? SCAVENGE_STREAMS_PER_PAGE;
    const maxRows = options.rowsPerPage ?? SCAVENGE_ROWS_PER_PAGE;
    const now = options.now ?? new Date();
    let streams = 0;
    let removed = 0;
    for (const prefix of policy.categories) {
      const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
      let cursor = '';
      for (;;) {
        if (this.closed) return { streams, removed };
        const client = await this.pool.connect();
        let page: { cursor: string | undefined; examined: number; gone: bigint[] };
        try {
          await client.query('BEGIN');
          page = await this.scavengePage(client, policy, prefix, end, cursor, perPage, maxRows, now);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        } finally {
          client.release();
        }
        streams += page.examined;
        removed += page.gone.length;
        if (page.gone.length > 0) {
          const gone = new Set(page.gone);
          this.recent = this.recent.filter((event) => !gone.has(event.position.commit));
        }
        if (page.cursor === undefined) break;
        cursor = page.cursor;
        await yieldToEventLoop();
      }
    }
    return { streams, removed };
  }

  private async scavengePage(
    client: pg.PoolClient,
    policy: ScavengePolicy,
    prefix: string,
    end: string,
    after: string,
    perPage: number,
    maxRows: number,
    now: Date,
  ): Promise<{ cursor: string | undefined; examined: number; gone: bigint[] }> {
    let cursor = after;
    let examined = 0;
    const gone: bigint[] = [];
    while (examined < perPage && gone.length < maxRows) {
      const next = await client.query<{ stream_name: string }>(
        cursor === ''
          ? 'SELECT stream_name FROM events WHERE stream_name >= $1 AND stream_name < $2 ORDER BY stream_name LIMIT 1'
          : 'SELECT stream_name FROM events WHERE stream_name > $1 AND stream_name < $2 ORDER BY stream_name LIMIT 1',
        [cursor === '' ? prefix : cursor, end],
      );
      const stream = next.rows[0]?.stream_name;
      if (stream === undefined || !stream.startsWith(prefix)) return { cursor: undefined, examined, gone };
      const rows = (
        await client.query<EventRow>(
          `SELECT ${COLUMNS} FROM events WHERE stream_name = $1 AND type <> '${TOMBSTONE_EVENT_TYPE}' ORDER BY revision ASC`,
          [stream],
        )
      ).rows;
      const byRevision = new Map(rows.map((row) => [row.revision, row]));
      const newest = rows[rows.length - 1]?.revision;
      const removable = policy.removable(stream, rows.map(toRecorded), now).filter((revision) => revision !== newest);
      const batch = removable.slice(0, maxRows - gone.length);
      for (const revision of batch) {
        const row = byRevision.get(revision);
        if (!row) continue;
        const original = toRecorded(row);
        const sha256 = eventDigest(original);
        const leafHash = eventLeafHash(original).toString('base64');
        const updated = await client.query(
          `UPDATE events SET type = '${TOMBSTONE_EVENT_TYPE}', data = $2, metadata = '${TOMBSTONE_METADATA}'
            WHERE position = $1 AND type <> '${TOMBSTONE_EVENT_TYPE}'`,
          [row.position, JSON.stringify({ sha256, leafHash })],
        );
        if (updated.rowCount === 1) gone.push(BigInt(row.position));
      }
      if (batch.length < removable.length) break;
      cursor = stream;
      examined++;
    }
    return { cursor, examined, gone };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Appends already queued reach the database before the pool closes.
    while (this.flushing) await this.flushing;
    this.closed = true;
    clearInterval(this.poll);
    this.advanced.emit('advanced');
    await this.listener?.close();
    await this.tailing;
    if (this.ownsPool) await this.pool.end();
  }
}
