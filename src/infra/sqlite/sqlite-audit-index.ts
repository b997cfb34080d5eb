import Database from 'better-sqlite3';
import { once } from 'node:events';
import { setTimeout as sleep, setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { LINE_CLOSE, LINE_LEAF, LINE_METADATA } from '../../domain/audit/ndjson-line.js';
import { TOMBSTONE_EVENT_TYPE } from '../../domain/retention.js';
import type { AuditLog, AuditQuery, AuditRecord, ExportPage } from '../../ports/audit-log.js';
import { comparePositions, type EventStore, type GlobalPosition, type RecordedEvent, type Subscription } from '../../ports/event-store.js';
import { AuditFiler, FORGOTTEN, openAuditDatabase, Terms } from './audit-filer.js';
import type { AuditWorkerData, AuditWorkerReply, AuditWorkerRequest } from './audit-index-worker.js';
import { SqliteEventStore } from './sqlite-event-store.js';

export { FORGOTTEN };

interface EntryRow {
  seq: number;
  position: number | bigint;
  prepare: number | bigint;
  organization_id: number | null;
  resource_kind: number;
  resource_id: string;
  actor_name: string | null;
}

/** The columns of an index row, as `EntryRow` names them. */
const ENTRY_COLUMNS = 'a.seq, a.position, a.prepare, a.organization_id, a.resource_kind, a.resource_id, a.actor_name';

/**
 * An export's row (exportPage), raw (an array: an export reads a million):
 * its `seq` and position, and its line as SQLite puts it together from the
 * prefix and leaf the index keeps (audit-filer.ts) and the event's stored
 * text in the log: the JavaScript side only passes the string on. The line
 * is NULL when a part is missing (no parts kept, a tombstone): that row is
 * built from its record.
 */
const EXPORT_COLUMNS = `a.seq, a.position, a.line_prefix || e.data || '${LINE_METADATA}' || e.metadata || '${LINE_LEAF}' || a.line_leaf || '${LINE_CLOSE}' || char(10)`;
const EXPORT_FROM = `audit_entries a LEFT JOIN log.events e ON e.position = a.position AND e.type <> '${TOMBSTONE_EVENT_TYPE}'`;
type ExportRow = [seq: number, position: number, line: string | null];

/** Events forwarded to the filer at most at once (the subscription's side). */
const BATCH = 5000;
/**
 * How long the main thread gathers the log's new positions before telling
 * the worker: one transaction per turn of the event loop meant one per group
 * commit of the log. An event is in the index at most this much later
 * (reads wait for it: read-your-writes).
 */
const FLUSH_AFTER_MS = 10;
/** Records read per page by `records` (exports). */
export const RECORDS_PAGE = 1000;
/** Above this many concrete types a type filter is one `IN` instead of one ordered range per type. */
const MAX_TYPE_BRANCHES = 40;

const toPosition = (row: { position: number | bigint; prepare: number | bigint }): GlobalPosition => ({ commit: BigInt(row.position), prepare: BigInt(row.prepare) });
const key = (p: GlobalPosition) => `${p.commit}/${p.prepare}`;

export interface AuditIndexOptions {
  /**
   * Where events are filed. `worker` (the default): a worker thread
   * (audit-index-worker.ts) with its own connection to audit.sqlite; on the
   * embedded store it reads the events from the file itself. `main`: on the
   * event loop (as before; for comparisons).
   */
  readonly thread?: 'worker' | 'main';
  /**
   * The local data keys (crypto-shredding): the worker reads sealed events
   * from the file and opens them with its own connection to this file. Without
   * it, events sealed under local keys are opened here and sent as messages.
   */
  readonly personKeys?: { readonly file: string; readonly wrappingKey: Uint8Array };
  /** Whether the log holds sealed personal data at all (false: nothing to open, the worker reads the file). Default: true when `open` is given. */
  readonly sealed?: boolean;
  /** The ledger's file (ledger.sqlite): the worker reads each event's leaf from the tree where it has it, instead of hashing the event again. */
  readonly ledgerFile?: string;
}

/**
 * The audit log's index (issue 11), in its own file (DATA_DIR/audit.sqlite):
 * tails the log as stored from its newest row, files each event's
 * organization, resource, type, actor (with the actor's display name as it
 * was then), time and correlation id, and answers queries with the
 * positions it filed, reading the events themselves from the log.
 *
 * Filing runs in a worker thread (AuditFiler in audit-index-worker.ts, the
 * only writer); this thread reads the file (WAL: readers see the last
 * committed batch) and learns from the worker how far it has filed.
 */
export class SqliteAuditIndex implements AuditLog {
  private readonly db: Database.Database;
  private readonly terms: Terms;
  private readonly statements: {
    last: Database.Statement<[], { position: number | bigint; prepare: number | bigint }>;
    types: Database.Statement<[], { type: string }>;
    seqAtOrBefore: Database.Statement<[bigint], { seq: number }>;
    seqAtOrAfter: Database.Statement<[bigint], { seq: number }>;
    seqFrom: Database.Statement<[number], { seq: number }>;
    seqTo: Database.Statement<[number], { seq: number }>;
    rowsBySeq: Database.Statement<[string], EntryRow>;
  };
  private readonly knownTypes = new Set<string>();
  private readonly queries = new Map<string, Database.Statement<unknown[], EntryRow>>();
  private stopped = false;
  private running: Promise<void> | undefined;
  private subscription: Subscription | undefined;
  private readonly waiters = new Set<{ position: GlobalPosition; resolve: () => void }>();
  private checkpoint: GlobalPosition | undefined;
  private readonly thread: 'worker' | 'main';
  /** The filer on this thread (`thread: 'main'`). */
  private filer: AuditFiler | undefined;
  private worker: Worker | undefined;
  private workerStopped: Promise<unknown> | undefined;
  private readonly forgetting = new Map<number, { resolve: (changed: number) => void; reject: (error: Error) => void }>();
  private nextRequest = 0;
  private readonly open: (event: RecordedEvent) => RecordedEvent;
  /** Whether events may hold sealed personal data (an opener was given). */
  private readonly opens: boolean;
  /** A read-only connection to audit.sqlite with the log attached (exports); null: not on this store. */
  private exportDb: Database.Database | null | undefined;
  private readonly exportQueries = new Map<string, Database.Statement<unknown[], ExportRow>>();

  /**
   * @param log the log as stored (not upcast): entries carry what was written, so their leaf hash can be recomputed.
   */
  constructor(
    readonly filename: string,
    private readonly log: EventStore,
    private readonly logger?: Logger,
    /** Opens sealed personal data (crypto-shredding): names are filed, and entries shown, as readers see them. */
    open?: (event: RecordedEvent) => RecordedEvent,
    private readonly options: AuditIndexOptions = {},
  ) {
    this.open = open ?? ((event) => event);
    this.opens = open !== undefined;
    if (!log.readPositions) throw new Error('the audit index needs an event store that reads events by position');
    this.thread = options.thread ?? 'worker';
    // This connection makes the file and its schema, then only reads.
    this.db = openAuditDatabase(filename);
    this.terms = new Terms(this.db);
    this.statements = {
      last: this.db.prepare('SELECT position, prepare FROM audit_entries ORDER BY seq DESC LIMIT 1'),
      types: this.db.prepare('SELECT type FROM audit_types'),
      seqAtOrBefore: this.db.prepare('SELECT seq FROM audit_entries WHERE position <= ? ORDER BY position DESC, prepare DESC LIMIT 1'),
      seqAtOrAfter: this.db.prepare('SELECT seq FROM audit_entries WHERE position >= ? ORDER BY position ASC, prepare ASC LIMIT 1'),
      // The first row that may be at or after `from`, the last that may be at or before `to` (audit-filer.ts).
      seqFrom: this.db.prepare('SELECT seq FROM audit_entries WHERE time_ceiling >= ? ORDER BY time_ceiling ASC, seq ASC LIMIT 1'),
      seqTo: this.db.prepare('SELECT seq FROM audit_entries WHERE time_floor <= ? ORDER BY time_floor DESC, seq DESC LIMIT 1'),
      rowsBySeq: this.db.prepare(`SELECT ${ENTRY_COLUMNS} FROM audit_entries a WHERE a.seq IN (SELECT value FROM json_each(?))`),
    };
    for (const { type } of this.statements.types.all()) this.knownTypes.add(type);
    const last = this.statements.last.get();
    this.checkpoint = last ? toPosition(last) : undefined;
  }

  /** Start tailing the log (in the background: readiness does not wait for it). */
  start(): void {
    this.running ??= this.run().catch((error: unknown) => this.logger?.error({ err: error }, 'the audit index stopped'));
  }

  /** The filer has filed the log up to `position`: wake whoever waits for it. */
  private reached(position: GlobalPosition, types: readonly string[]): void {
    for (const type of types) this.knownTypes.add(type);
    if (!this.checkpoint || comparePositions(position, this.checkpoint) > 0) this.checkpoint = position;
    for (const waiter of this.waiters) {
      if (comparePositions(waiter.position, this.checkpoint) <= 0) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** The worker, and how a batch reaches it: the last position (it reads the file) or the events themselves. */
  private startWorker(): { post: (events: RecordedEvent[]) => void; upTo: ((position: GlobalPosition) => void) | undefined } {
    // The worker reads the embedded store's file itself when it can open what is sealed there (or nothing is).
    const readsFile =
      this.log instanceof SqliteEventStore && this.log.filename !== ':memory:' && (this.options.personKeys !== undefined || !(this.options.sealed ?? this.opens));
    const data: AuditWorkerData = {
      auditFile: this.filename,
      ...(readsFile && { eventsFile: (this.log as SqliteEventStore).filename }),
      ...(readsFile && this.options.personKeys && { personKeys: this.options.personKeys }),
      ...(this.options.ledgerFile && { ledgerFile: this.options.ledgerFile }),
    };
    const worker = new Worker(new URL('./audit-index-worker.js', import.meta.url), { workerData: data });
    this.worker = worker;
    this.workerStopped = once(worker, 'exit');
    // An index never stopped does not hold the process open (it resumes from its newest row); stop() holds it.
    worker.unref();
    worker.on('message', (reply: AuditWorkerReply) => {
      switch (reply.kind) {
        case 'filed':
          this.reached(reply.reached, reply.types);
          break;
        case 'forgotten': {
          const pending = this.forgetting.get(reply.id);
          this.forgetting.delete(reply.id);
          // Terms this thread kept may name the person.
          this.terms.clear();
          if (reply.error !== undefined) pending?.reject(new Error(reply.error));
          else pending?.resolve(reply.changed);
          break;
        }
        case 'failed':
          this.logger?.error({ err: new Error(reply.message) }, 'the audit index could not file events');
          break;
      }
    });
    worker.on('error', (error) => this.logger?.error({ err: error }, 'the audit index worker stopped'));
    const send = (request: AuditWorkerRequest) => worker.postMessage(request);
    const upTo = (position: GlobalPosition) => send({ kind: 'upTo', position });
    return {
      upTo: readsFile ? upTo : undefined,
      post: readsFile ? (events) => upTo(events[events.length - 1]!.position) : (events) => send({ kind: 'events', events: events.map(this.open) }),
    };
  }

  private async run(): Promise<void> {
    let checkpoint = this.checkpoint;
    let file: (events: RecordedEvent[]) => void;
    if (this.thread === 'worker') {
      const worker = this.startWorker();
      file = worker.post;
      if (worker.upTo) {
        // Catching up is the worker's alone: it reads the rows, the subscription starts at the head.
        const head = await this.log.headPosition();
        if (head && (!checkpoint || comparePositions(head, checkpoint) > 0)) {
          worker.upTo(head);
          checkpoint = head;
        }
      }
    } else {
      const filer = new AuditFiler(this.filename, this.open);
      this.filer = filer;
      file = (events) => {
        filer.file(events);
        this.reached(events[events.length - 1]!.position, filer.takeNewTypes());
      };
    }
    if (this.stopped) return;
    const subscription = this.log.subscribeToAll(checkpoint ? { after: checkpoint } : {});
    this.subscription = subscription;
    let batch: RecordedEvent[] = [];
    let flushing: Promise<void> | undefined;
    const flush = () => {
      const events = batch;
      batch = [];
      file(events);
    };
    const gatherMs = this.thread === 'worker' ? FLUSH_AFTER_MS : 0;
    try {
      for await (const event of subscription) {
        if (this.stopped) break;
        batch.push(event);
        if (batch.length >= BATCH) {
          flush();
          await yieldToEventLoop();
        } else {
          // Whatever the subscription delivers meanwhile goes in one transaction.
          flushing ??= (gatherMs > 0 ? sleep(gatherMs) : yieldToEventLoop())
            .then(() => {
              flushing = undefined;
              if (batch.length > 0) flush();
            })
            .catch((error: unknown) => this.logger?.error({ err: error }, 'the audit index could not file events'));
        }
      }
    } finally {
      await subscription.close();
      if (batch.length > 0) flush();
    }
  }

  /**
   * Remove a person's names from the index (crypto-shredding): the names
   * filed under a user id or subject, and every row's actor name and subject
   * of theirs. Ordered with filing: what is filed after it is filed without
   * the person's key. Answers how many rows changed.
   */
  async forgetSubject(id: string): Promise<number> {
    const worker = this.worker;
    if (!worker) {
      const filer = (this.filer ??= new AuditFiler(this.filename, this.open));
      const changed = filer.forgetSubject(id);
      this.terms.clear();
      return changed;
    }
    const requestId = this.nextRequest++;
    return new Promise<number>((resolve, reject) => {
      this.forgetting.set(requestId, { resolve, reject });
      worker.postMessage({ kind: 'forget', id: requestId, subject: id } satisfies AuditWorkerRequest);
    });
  }

  /** Rows whose events are gone from the log: dropped by the filer. */
  private removeRows(seqs: number[]): void {
    if (seqs.length === 0) return;
    if (this.worker) this.worker.postMessage({ kind: 'remove', seqs } satisfies AuditWorkerRequest);
    else (this.filer ??= new AuditFiler(this.filename, this.open)).remove(seqs);
  }

  async indexedPosition(): Promise<bigint | undefined> {
    return this.checkpoint?.commit;
  }

  /** The newest position filed (both parts). */
  indexedGlobalPosition(): GlobalPosition | undefined {
    return this.checkpoint;
  }

  async waitFor(position: GlobalPosition | undefined, timeoutMs: number): Promise<void> {
    if (!position) return;
    if (this.checkpoint && comparePositions(position, this.checkpoint) <= 0) return;
    await new Promise<void>((resolve) => {
      const waiter = {
        position,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve();
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  async page(query: AuditQuery, limit: number): Promise<AuditRecord[]> {
    const records: AuditRecord[] = [];
    let after = this.startSeq(query);
    if (after === null) return records;
    while (records.length < limit) {
      const wanted = limit - records.length;
      const rows = this.scan(query, after, wanted);
      if (rows.length === 0) break;
      for (const record of await this.recordsOf(rows)) if (record) records.push(record);
      if (rows.length < wanted) break;
      after = rows[rows.length - 1]!.seq;
    }
    return records;
  }

  /** The records of index rows, in their order: undefined for a row whose event is gone from the log (retention; the row is dropped). */
  private async recordsOf(rows: readonly EntryRow[]): Promise<Array<AuditRecord | undefined>> {
    const events = await this.log.readPositions!(rows.map(toPosition));
    const byPosition = new Map(events.map((event) => [key(event.position), event]));
    const gone: number[] = [];
    const records = rows.map((row): AuditRecord | undefined => {
      const stored = byPosition.get(key(toPosition(row)));
      // Gone from the log since it was filed (retention): gone from the index too.
      if (!stored) {
        gone.push(row.seq);
        return undefined;
      }
      const event = this.open(stored);
      return {
        ...(event !== stored && { stored }),
        organizationId: row.organization_id === null ? null : this.terms.valueOf(row.organization_id),
        resource: { kind: this.terms.valueOf(row.resource_kind) as AuditRecord['resource']['kind'], id: row.resource_id },
        event,
        actorName: row.actor_name,
      };
    });
    this.removeRows(gone);
    return records;
  }

  /**
   * A page of an export on the embedded store: each row as its finished NDJSON
   * line where the index keeps the line's parts (one joined read with the log,
   * no event object: src/domain/audit/ndjson-line.ts), as a record for the
   * rest (sealed data shown opened, forgotten actors, rows filed before the
   * parts existed, retention's tombstones). Undefined when this index cannot
   * (another store, a log in memory): use `page`.
   */
  async exportPage(query: AuditQuery, limit: number): Promise<ExportPage | undefined> {
    const db = this.exportConnection();
    if (!db) return undefined;
    const after = this.startSeq(query);
    if (after === null) return { items: [], last: undefined, read: 0 };
    const rows = this.exportRows(db, query, after, limit);
    const items: Array<string | AuditRecord | undefined> = new Array(rows.length);
    const slow: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      const line = rows[i]![2];
      if (line !== null) items[i] = line;
      else slow.push(i);
    }
    if (slow.length > 0) {
      // The index rows of these (few) from the index, then their records as `page` makes them.
      const bySeq = new Map(this.statements.rowsBySeq.all(JSON.stringify(slow.map((i) => rows[i]![0]))).map((row) => [row.seq, row]));
      const found = slow.filter((i) => bySeq.has(rows[i]![0]));
      const records = await this.recordsOf(found.map((i) => bySeq.get(rows[i]![0])!));
      found.forEach((at, i) => {
        items[at] = records[i];
      });
    }
    const last = rows[rows.length - 1];
    return { items: items.filter((item) => item !== undefined), last: last === undefined ? undefined : BigInt(last[1]), read: rows.length };
  }

  /** The export connection, opened on first use (null when this store has none). */
  private exportConnection(): Database.Database | null {
    if (this.exportDb !== undefined) return this.exportDb;
    if (!(this.log instanceof SqliteEventStore) || this.log.filename === ':memory:') return (this.exportDb = null);
    // Read-only, and so is the attached log (SQLite opens it with the connection's flags).
    const db = new Database(this.filename, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    db.prepare('ATTACH DATABASE ? AS log').run(this.log.filename);
    return (this.exportDb = db);
  }

  /**
   * Export rows after `afterSeq`, at most `limit`. One filter range: joined in
   * the same query. Several (a type prefix): the index's rows first, merged,
   * then joined by `seq`, so that rows beyond the page are not joined.
   */
  private exportRows(db: Database.Database, query: AuditQuery, afterSeq: number | undefined, limit: number): ExportRow[] {
    const plan = this.plan(query, afterSeq);
    if (!plan) return [];
    const statement = (sql: string) => {
      let found = this.exportQueries.get(sql);
      if (!found) {
        found = db.prepare(sql).raw() as Database.Statement<unknown[], ExportRow>;
        if (this.exportQueries.size > 500) this.exportQueries.clear();
        this.exportQueries.set(sql, found);
      }
      return found;
    };
    const order = `ORDER BY a.seq ${plan.desc ? 'DESC' : 'ASC'}`;
    if (plan.branches.length === 1) {
      const [branch] = plan.branches;
      const clauses = branch!.clause ? [branch!.clause, ...plan.where] : plan.where;
      return statement(`SELECT ${EXPORT_COLUMNS} FROM ${EXPORT_FROM} ${clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : ''} ${order} LIMIT ?`).all(
        ...branch!.values,
        ...plan.params,
        limit,
      );
    }
    const seqs = this.scan(query, afterSeq, limit).map((row) => row.seq);
    if (seqs.length === 0) return [];
    return statement(`SELECT ${EXPORT_COLUMNS} FROM ${EXPORT_FROM} WHERE a.seq IN (SELECT value FROM json_each(?)) ${order}`).all(JSON.stringify(seqs));
  }

  async *records(query: AuditQuery): AsyncIterable<AuditRecord> {
    let current = query;
    for (;;) {
      const page = await this.page(current, RECORDS_PAGE);
      for (const record of page) yield record;
      if (page.length < RECORDS_PAGE) return;
      current = { ...current, after: page[page.length - 1]!.event.position.commit };
    }
  }

  /** The exclusive `seq` bound the query continues from: undefined from the start, null when nothing can follow. */
  private startSeq(query: AuditQuery): number | undefined | null {
    if (query.after === undefined) return undefined;
    if (query.order === 'asc') return this.statements.seqAtOrBefore.get(query.after)?.seq ?? 0;
    // Descending: continue below the first row at or after the cursor's position.
    const seq = this.statements.seqAtOrAfter.get(query.after)?.seq;
    return seq ?? undefined;
  }

  /** The concrete types a type filter names (prefixes expanded against the types filed so far). */
  private typesOf(patterns: readonly string[]): string[] {
    const types = new Set<string>();
    for (const pattern of patterns) {
      if (!pattern.endsWith('*')) {
        types.add(pattern);
        continue;
      }
      const prefix = pattern.slice(0, -1);
      for (const type of this.knownTypes) if (type.startsWith(prefix)) types.add(type);
    }
    return [...types].sort();
  }

  /**
   * The query as SQL: conditions on the index (`a`) and one branch per
   * concrete type; null when nothing can match.
   */
  private plan(
    query: AuditQuery,
    afterSeq: number | undefined,
  ): { where: string[]; params: unknown[]; branches: Array<{ clause?: string; values: unknown[] }>; desc: boolean } | null {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, ...values: unknown[]) => {
      where.push(clause);
      params.push(...values);
    };
    // A term no row ever had: nothing matches.
    const term = (value: string) => this.terms.find(value) ?? -1;
    if (query.organizationId !== undefined) add('a.organization_id = ?', term(query.organizationId));
    if (query.actor !== undefined) add('a.actor = ?', term(query.actor));
    if (query.resourceKind !== undefined) add('a.resource_kind = ?', term(query.resourceKind));
    if (query.resource !== undefined) add('a.resource_id = ?', query.resource);
    if (query.correlationId !== undefined) add('a.correlation_id = ?', query.correlationId);
    // A time bound is a seq range (one index lookup: audit-filer.ts), then checked on each row of it.
    if (query.from !== undefined) {
      const first = this.statements.seqFrom.get(query.from.getTime())?.seq;
      if (first === undefined) return null;
      add('a.seq >= ?', first);
      add('a.occurred_at >= ?', query.from.getTime());
    }
    if (query.to !== undefined) {
      const last = this.statements.seqTo.get(query.to.getTime())?.seq;
      if (last === undefined) return null;
      add('a.seq <= ?', last);
      add('a.occurred_at <= ?', query.to.getTime());
    }
    if (query.atOrBefore !== undefined) add('a.seq <= ?', this.statements.seqAtOrBefore.get(query.atOrBefore)?.seq ?? 0);
    const desc = query.order === 'desc';
    if (afterSeq !== undefined) add(desc ? 'a.seq < ?' : 'a.seq > ?', afterSeq);

    let branches: Array<{ clause?: string; values: unknown[] }> = [{ values: [] }];
    if (query.types && query.types.length > 0) {
      const types = this.typesOf(query.types);
      if (types.length === 0) return null;
      branches =
        types.length > MAX_TYPE_BRANCHES
          ? [{ clause: `a.type IN (${types.map(() => '?').join(',')})`, values: types.map(term) }]
          : types.map((type) => ({ clause: 'a.type = ?', values: [term(type)] }));
    }
    return { where, params, branches, desc };
  }

  /**
   * Index rows of the query after `afterSeq` (exclusive, in the query's order),
   * at most `limit`: one ordered index range per concrete type, merged.
   */
  private scan(query: AuditQuery, afterSeq: number | undefined, limit: number): EntryRow[] {
    const plan = this.plan(query, afterSeq);
    if (!plan) return [];
    const { where, params, branches, desc } = plan;
    const iterators = branches.map((branch) => {
      const clauses = branch.clause ? [branch.clause, ...where] : where;
      const sql = `SELECT ${ENTRY_COLUMNS} FROM audit_entries a ${clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : ''} ORDER BY a.seq ${desc ? 'DESC' : 'ASC'} LIMIT ?`;
      let statement = this.queries.get(sql);
      if (!statement) {
        statement = this.db.prepare(sql) as Database.Statement<unknown[], EntryRow>;
        if (this.queries.size > 500) this.queries.clear();
        this.queries.set(sql, statement);
      }
      return statement.all(...branch.values, ...params, limit);
    });
    if (iterators.length === 1) return iterators[0]!;
    // Merge the ordered branches (each at most `limit` rows).
    const merged = iterators.flat();
    merged.sort((a, b) => (desc ? b.seq - a.seq : a.seq - b.seq));
    return merged.slice(0, limit);
  }

  async close(): Promise<void> {
    await this.stop();
    this.filer?.close();
    this.filer = undefined;
    this.exportDb?.close();
    this.exportDb = null;
    this.db.close();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.subscription?.close();
    await this.running;
    if (this.worker) {
      // The worker ends after its current batch; the index resumes from its newest row.
      this.worker.ref();
      this.worker.postMessage({ kind: 'stop' } satisfies AuditWorkerRequest);
      await this.workerStopped;
      this.worker = undefined;
      for (const pending of this.forgetting.values()) pending.reject(new Error('the audit index stopped'));
      this.forgetting.clear();
    }
  }
}
