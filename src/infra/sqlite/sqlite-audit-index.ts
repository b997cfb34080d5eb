import type Database from 'better-sqlite3';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { attribute } from '../../domain/audit/attribution.js';
import { TOMBSTONE_EVENT_TYPE } from '../../domain/retention.js';
import type { AuditLog, AuditQuery, AuditRecord } from '../../ports/audit-log.js';
import { comparePositions, type EventStore, type GlobalPosition, type RecordedEvent, type Subscription } from '../../ports/event-store.js';
import { openDatabase } from './open-database.js';

/**
 * One row per event: where it sits in the log (`seq` is the index's own
 * order, the log's; `position`/`prepare` its global position) and what the
 * audit log filters on. Every filter is an index range ending in `seq`, so a
 * page reads about `limit` rows whatever the log's size (docs/audit.md).
 * Types, organizations, actors and resource kinds are few and repeated: they
 * are numbers from `audit_terms`, which keeps the indexes small.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS audit_entries (
    seq             INTEGER PRIMARY KEY,
    position        INTEGER NOT NULL,
    prepare         INTEGER NOT NULL,
    type            INTEGER NOT NULL,
    organization_id INTEGER,
    resource_kind   INTEGER NOT NULL,
    resource_id     TEXT    NOT NULL,
    actor           INTEGER NOT NULL,
    actor_kind      TEXT    NOT NULL,
    actor_name      TEXT,
    occurred_at     INTEGER NOT NULL,
    correlation_id  TEXT    NOT NULL
  );
  CREATE UNIQUE INDEX IF NOT EXISTS audit_by_position ON audit_entries (position, prepare);
  CREATE INDEX IF NOT EXISTS audit_by_organization ON audit_entries (organization_id, seq);
  CREATE INDEX IF NOT EXISTS audit_by_organization_type ON audit_entries (organization_id, type, seq);
  CREATE INDEX IF NOT EXISTS audit_by_organization_actor ON audit_entries (organization_id, actor, seq);
  CREATE INDEX IF NOT EXISTS audit_by_type ON audit_entries (type, seq);
  CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_entries (actor, seq);
  CREATE INDEX IF NOT EXISTS audit_by_resource ON audit_entries (resource_id, seq);
  CREATE INDEX IF NOT EXISTS audit_by_correlation ON audit_entries (correlation_id, seq);
  CREATE TABLE IF NOT EXISTS audit_terms (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
  CREATE TABLE IF NOT EXISTS audit_types (type TEXT PRIMARY KEY) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS audit_names (
    organization_id TEXT NOT NULL,
    subject         TEXT NOT NULL,
    user_id         TEXT,
    name            TEXT NOT NULL,
    PRIMARY KEY (organization_id, subject)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS audit_names_by_subject ON audit_names (subject);
  CREATE INDEX IF NOT EXISTS audit_names_by_user ON audit_names (user_id);
  CREATE TABLE IF NOT EXISTS audit_streams (stream_name TEXT PRIMARY KEY, organization_id TEXT NOT NULL) WITHOUT ROWID;
`;

interface EntryRow {
  seq: number;
  position: number | bigint;
  prepare: number | bigint;
  organization_id: number | null;
  resource_kind: number;
  resource_id: string;
  actor_name: string | null;
}

/** Events filed per transaction at most. */
const BATCH = 2000;
/** Records read per page by `records` (exports). */
export const RECORDS_PAGE = 1000;
/** Streams whose organization is kept in memory (the rest is in audit_streams). */
const STREAM_CACHE = 10_000;
/** Above this many concrete types a type filter is one `IN` instead of one ordered range per type. */
const MAX_TYPE_BRANCHES = 40;
/** What stands for a forgotten subject in the index. */
export const FORGOTTEN = '[erased]';

const toPosition = (row: { position: number | bigint; prepare: number | bigint }): GlobalPosition => ({ commit: BigInt(row.position), prepare: BigInt(row.prepare) });
const key = (p: GlobalPosition) => `${p.commit}/${p.prepare}`;

/** Terms kept in memory each way (ids of types, organizations, actors, kinds). */
const TERM_CACHE = 100_000;

/** Repeated strings as numbers: `audit_terms`, with a cache each way. */
class Terms {
  private readonly ids = new Map<string, number>();
  private readonly values = new Map<number, string>();
  private readonly byValue: Database.Statement<[string], { id: number }>;
  private readonly byId: Database.Statement<[number], { value: string }>;
  private readonly insert: Database.Statement<[string]>;
  private readonly remove: Database.Statement<[number]>;

  constructor(db: Database.Database) {
    this.byValue = db.prepare('SELECT id FROM audit_terms WHERE value = ?');
    this.byId = db.prepare('SELECT value FROM audit_terms WHERE id = ?');
    this.insert = db.prepare('INSERT INTO audit_terms (value) VALUES (?)');
    this.remove = db.prepare('DELETE FROM audit_terms WHERE id = ?');
  }

  /** The term's id, made if new (while filing). */
  idOf(value: string): number {
    const id = this.find(value) ?? Number(this.insert.run(value).lastInsertRowid);
    this.remember(value, id);
    return id;
  }

  /** The term's id, or undefined when no row ever had it (a query for it finds nothing). */
  find(value: string): number | undefined {
    const cached = this.ids.get(value);
    if (cached !== undefined) return cached;
    const id = this.byValue.get(value)?.id;
    if (id !== undefined) this.remember(value, id);
    return id;
  }

  valueOf(id: number): string {
    let value = this.values.get(id);
    if (value === undefined) {
      value = this.byId.get(id)?.value ?? '';
      this.remember(value, id);
    }
    return value;
  }

  forget(value: string): number | undefined {
    const id = this.find(value);
    if (id === undefined) return undefined;
    this.remove.run(id);
    this.ids.delete(value);
    this.values.delete(id);
    return id;
  }

  private remember(value: string, id: number): void {
    if (this.ids.size >= TERM_CACHE) {
      this.ids.clear();
      this.values.clear();
    }
    this.ids.set(value, id);
    this.values.set(id, value);
  }
}

/** The organization of each stream, for events that do not name it: an LRU in front of a table. */
class StreamOrganizations {
  private readonly cache = new Map<string, string | null>();
  private readonly get: Database.Statement<[string], { organization_id: string }>;
  private readonly put: Database.Statement<[string, string]>;

  constructor(db: Database.Database) {
    this.get = db.prepare('SELECT organization_id FROM audit_streams WHERE stream_name = ?');
    this.put = db.prepare('INSERT OR REPLACE INTO audit_streams (stream_name, organization_id) VALUES (?, ?)');
  }

  of(stream: string): string | null {
    let value = this.cache.get(stream);
    if (value === undefined) value = this.get.get(stream)?.organization_id ?? null;
    else this.cache.delete(stream);
    this.remember(stream, value);
    return value;
  }

  set(stream: string, organizationId: string): void {
    if (this.of(stream) === organizationId) return;
    this.put.run(stream, organizationId);
    this.remember(stream, organizationId);
  }

  private remember(stream: string, value: string | null): void {
    this.cache.set(stream, value);
    if (this.cache.size > STREAM_CACHE) this.cache.delete(this.cache.keys().next().value!);
  }
}

/**
 * The audit log's index (issue 11), in its own file (DATA_DIR/audit.sqlite):
 * tails the log as stored from its newest row, files each event's
 * organization, resource, type, actor (with the actor's display name as it
 * was then), time and correlation id, and answers queries with the
 * positions it filed, reading the events themselves from the log.
 */
export class SqliteAuditIndex implements AuditLog {
  private readonly db: Database.Database;
  private readonly streams: StreamOrganizations;
  private readonly terms: Terms;
  private readonly statements: {
    insert: Database.Statement<unknown[]>;
    last: Database.Statement<[], { position: number | bigint; prepare: number | bigint }>;
    type: Database.Statement<[string]>;
    types: Database.Statement<[], { type: string }>;
    name: Database.Statement<[string, string], { name: string }>;
    anyName: Database.Statement<[string], { name: string }>;
    putName: Database.Statement<[string, string, string | null, string]>;
    seqAtOrBefore: Database.Statement<[bigint], { seq: number }>;
    seqAtOrAfter: Database.Statement<[bigint], { seq: number }>;
    remove: Database.Statement<[number]>;
  };
  private readonly knownTypes = new Set<string>();
  private readonly queries = new Map<string, Database.Statement<unknown[], EntryRow>>();
  private stopped = false;
  private running: Promise<void> | undefined;
  private subscription: Subscription | undefined;
  private readonly waiters = new Set<{ position: GlobalPosition; resolve: () => void }>();
  private checkpoint: GlobalPosition | undefined;

  /**
   * @param log the log as stored (not upcast): entries carry what was written, so their leaf hash can be recomputed.
   */
  constructor(
    readonly filename: string,
    private readonly log: EventStore,
    private readonly logger?: Logger,
    /** Opens sealed personal data (crypto-shredding): names are filed, and entries shown, as readers see them. */
    private readonly open: (event: RecordedEvent) => RecordedEvent = (event) => event,
  ) {
    if (!log.readPositions) throw new Error('the audit index needs an event store that reads events by position');
    // NORMAL: the index can be rebuilt from the log (delete the file); its checkpoint is its own last row.
    this.db = openDatabase(filename, { synchronous: 'NORMAL', schema: SCHEMA });
    // Eight indexes take rows in scattered places: a page cache of 32 MiB keeps their hot pages in memory while filing.
    this.db.pragma('cache_size = -32768');
    // What forgetSubject deletes is overwritten, not left in free pages.
    this.db.pragma('secure_delete = ON');
    this.streams = new StreamOrganizations(this.db);
    this.terms = new Terms(this.db);
    this.statements = {
      insert: this.db.prepare(
        `INSERT OR IGNORE INTO audit_entries (position, prepare, type, organization_id, resource_kind, resource_id, actor, actor_kind, actor_name, occurred_at, correlation_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      last: this.db.prepare('SELECT position, prepare FROM audit_entries ORDER BY seq DESC LIMIT 1'),
      type: this.db.prepare('INSERT OR IGNORE INTO audit_types (type) VALUES (?)'),
      types: this.db.prepare('SELECT type FROM audit_types'),
      name: this.db.prepare('SELECT name FROM audit_names WHERE organization_id = ? AND subject = ?'),
      anyName: this.db.prepare('SELECT name FROM audit_names WHERE subject = ? LIMIT 1'),
      putName: this.db.prepare('INSERT OR REPLACE INTO audit_names (organization_id, subject, user_id, name) VALUES (?, ?, ?, ?)'),
      seqAtOrBefore: this.db.prepare('SELECT seq FROM audit_entries WHERE position <= ? ORDER BY position DESC, prepare DESC LIMIT 1'),
      seqAtOrAfter: this.db.prepare('SELECT seq FROM audit_entries WHERE position >= ? ORDER BY position ASC, prepare ASC LIMIT 1'),
      remove: this.db.prepare('DELETE FROM audit_entries WHERE seq = ?'),
    };
    for (const { type } of this.statements.types.all()) this.knownTypes.add(type);
    const last = this.statements.last.get();
    this.checkpoint = last ? toPosition(last) : undefined;
  }

  /** Start tailing the log (in the background: readiness does not wait for it). */
  start(): void {
    this.running ??= this.run().catch((error: unknown) => this.logger?.error({ err: error }, 'the audit index stopped'));
  }

  private async run(): Promise<void> {
    const subscription = this.log.subscribeToAll(this.checkpoint ? { after: this.checkpoint } : {});
    this.subscription = subscription;
    let batch: RecordedEvent[] = [];
    let flushing: Promise<void> | undefined;
    const flush = () => {
      const events = batch;
      batch = [];
      this.file(events);
    };
    try {
      for await (const event of subscription) {
        if (this.stopped) break;
        batch.push(event);
        if (batch.length >= BATCH) {
          flush();
          await yieldToEventLoop();
        } else {
          flushing ??= yieldToEventLoop().then(() => {
            flushing = undefined;
            if (batch.length > 0) flush();
          });
        }
      }
    } finally {
      await subscription.close();
      if (batch.length > 0) flush();
    }
  }

  /** File events (in log order) in one transaction, and wake whoever waits for them. */
  file(events: readonly RecordedEvent[]): void {
    if (events.length === 0) return;
    this.db.transaction(() => {
      for (const event of events) this.fileOne(event);
    })();
    this.checkpoint = events[events.length - 1]!.position;
    for (const waiter of this.waiters) {
      if (comparePositions(waiter.position, this.checkpoint) <= 0) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  private fileOne(stored: RecordedEvent): void {
    if (stored.type === TOMBSTONE_EVENT_TYPE) return;
    const event = this.open(stored);
    const data = (event.data ?? {}) as Record<string, unknown>;
    const named = typeof data['organizationId'] === 'string' && data['organizationId'] !== '';
    const attribution = attribute(event, named ? undefined : this.streams.of(event.streamName));
    if (named) this.streams.set(event.streamName, data['organizationId'] as string);
    this.rememberName(event, attribution.organizationId);
    const actor = event.metadata?.actor ?? { subject: 'unknown', kind: 'system' };
    if (!this.knownTypes.has(event.type)) {
      this.statements.type.run(event.type);
      this.knownTypes.add(event.type);
    }
    const occurredAt = Date.parse(event.metadata?.occurredAt ?? '');
    this.statements.insert.run(
      event.position.commit,
      event.position.prepare,
      this.terms.idOf(event.type),
      attribution.organizationId === null ? null : this.terms.idOf(attribution.organizationId),
      this.terms.idOf(attribution.resource.kind),
      attribution.resource.id,
      this.terms.idOf(actor.subject),
      actor.kind,
      this.nameOf(actor, attribution.organizationId),
      Number.isFinite(occurredAt) ? occurredAt : 0,
      event.metadata?.correlationId ?? '',
    );
  }

  /** Users act under their subject: remember each subject's display name as events set it. */
  private rememberName(event: RecordedEvent, organizationId: string | null): void {
    if (event.type !== 'user.created' && event.type !== 'user.updated') return;
    const data = event.data as { subject?: unknown; name?: unknown; userId?: unknown };
    if (typeof data.subject !== 'string' || typeof data.name !== 'string') return;
    this.statements.putName.run(organizationId ?? '', data.subject, typeof data.userId === 'string' ? data.userId : null, data.name);
  }

  /** The actor's display name now (while filing: as it was when it acted). */
  private nameOf(actor: { subject: string; kind: string }, organizationId: string | null): string | null {
    switch (actor.kind) {
      case 'user':
        return (this.statements.name.get(organizationId ?? '', actor.subject) ?? this.statements.anyName.get(actor.subject))?.name ?? null;
      // Service accounts and applications act under their name; the bootstrap administrator under its fixed subject.
      case 'service_account':
      case 'application':
      case 'platform_administrator':
        return actor.subject;
      default:
        return null;
    }
  }

  /**
   * Remove a person's names from the index (crypto-shredding): the names
   * filed under a user id or subject, and every row's actor name and subject
   * of theirs. Answers how many rows changed.
   */
  forgetSubject(id: string): number {
    const changed = this.db.transaction(() => {
      const subjects = new Set<string>([id]);
      for (const row of this.db.prepare('SELECT subject FROM audit_names WHERE user_id = ? OR subject = ?').all(id, id) as Array<{ subject: string }>) subjects.add(row.subject);
      let changed = 0;
      const forgotten = this.terms.idOf(FORGOTTEN);
      for (const subject of subjects) {
        this.db.prepare('DELETE FROM audit_names WHERE subject = ?').run(subject);
        const id = this.terms.forget(subject);
        if (id !== undefined) changed += this.db.prepare('UPDATE audit_entries SET actor = ?, actor_name = NULL WHERE actor = ?').run(forgotten, id).changes;
      }
      this.db.prepare('DELETE FROM audit_names WHERE user_id = ?').run(id);
      return changed;
    })();
    // And out of the WAL file too.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return changed;
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
      const events = await this.log.readPositions!(rows.map(toPosition));
      const byPosition = new Map(events.map((event) => [key(event.position), event]));
      for (const row of rows) {
        const stored = byPosition.get(key(toPosition(row)));
        // Gone from the log since it was filed (retention): gone from the index too.
        if (!stored) {
          this.statements.remove.run(row.seq);
          continue;
        }
        const event = this.open(stored);
        records.push({
          ...(event !== stored && { stored }),
          organizationId: row.organization_id === null ? null : this.terms.valueOf(row.organization_id),
          resource: { kind: this.terms.valueOf(row.resource_kind) as AuditRecord['resource']['kind'], id: row.resource_id },
          event,
          actorName: row.actor_name,
        });
      }
      if (rows.length < wanted) break;
      after = rows[rows.length - 1]!.seq;
    }
    return records;
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
   * Index rows of the query after `afterSeq` (exclusive, in the query's order),
   * at most `limit`: one ordered index range per concrete type, merged.
   */
  private scan(query: AuditQuery, afterSeq: number | undefined, limit: number): EntryRow[] {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, ...values: unknown[]) => {
      where.push(clause);
      params.push(...values);
    };
    // A term no row ever had: nothing matches.
    const term = (value: string) => this.terms.find(value) ?? -1;
    if (query.organizationId !== undefined) add('organization_id = ?', term(query.organizationId));
    if (query.actor !== undefined) add('actor = ?', term(query.actor));
    if (query.resourceKind !== undefined) add('resource_kind = ?', term(query.resourceKind));
    if (query.resource !== undefined) add('resource_id = ?', query.resource);
    if (query.correlationId !== undefined) add('correlation_id = ?', query.correlationId);
    if (query.from !== undefined) add('occurred_at >= ?', query.from.getTime());
    if (query.to !== undefined) add('occurred_at <= ?', query.to.getTime());
    if (query.atOrBefore !== undefined) add('seq <= ?', this.statements.seqAtOrBefore.get(query.atOrBefore)?.seq ?? 0);
    const desc = query.order === 'desc';
    if (afterSeq !== undefined) add(desc ? 'seq < ?' : 'seq > ?', afterSeq);

    let branches: Array<{ clause?: string; values: unknown[] }> = [{ values: [] }];
    if (query.types && query.types.length > 0) {
      const types = this.typesOf(query.types);
      if (types.length === 0) return [];
      branches =
        types.length > MAX_TYPE_BRANCHES
          ? [{ clause: `type IN (${types.map(() => '?').join(',')})`, values: types.map(term) }]
          : types.map((type) => ({ clause: 'type = ?', values: [term(type)] }));
    }
    const iterators = branches.map((branch) => {
      const clauses = branch.clause ? [branch.clause, ...where] : where;
      const sql = `SELECT seq, position, prepare, organization_id, resource_kind, resource_id, actor_name FROM audit_entries
        ${clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : ''} ORDER BY seq ${desc ? 'DESC' : 'ASC'} LIMIT ?`;
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
    this.db.close();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.subscription?.close();
    await this.running;
  }
}
