import type Database from 'better-sqlite3';
import { attribute } from '../../domain/audit/attribution.js';
import { linePrefix } from '../../domain/audit/ndjson-line.js';
import { eventLeafHash } from '../../domain/ledger/leaf.js';
import { TOMBSTONE_EVENT_TYPE } from '../../domain/retention.js';
import { type GlobalPosition, positionToString, type RecordedEvent } from '../../ports/event-store.js';
import type { LeafReader } from '../ledger/leaf-reader.js';
import { openDatabase } from './open-database.js';

/**
 * One row per event: where it sits in the log (`seq` is the index's own
 * order, the log's; `position`/`prepare` its global position) and what the
 * audit log filters on. Every filter is an index range ending in `seq`, so a
 * page reads about `limit` rows whatever the log's size (docs/audit.md).
 * Types, organizations, actors and resource kinds are few and repeated: they
 * are numbers from `audit_terms`, which keeps the indexes small.
 *
 * `from`/`to` (docs/audit.md, Time bounds): `time_ceiling` is the newest
 * `occurred_at` of this row and every row before it, `time_floor` the oldest
 * of this row and every row after it. Both grow with `seq`, so a time bound
 * becomes a `seq` range by one index lookup each, whatever the order of the
 * clocks that wrote the events.
 */
export const AUDIT_SCHEMA = `
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

/**
 * The time bounds' columns and their indexes, added to a file made before
 * them and filled from `occurred_at` (window functions), once.
 */
function addTimeBounds(db: Database.Database, columns: ReadonlySet<string>): void {
  if (!columns.has('time_ceiling')) {
    db.transaction(() => {
      db.exec('ALTER TABLE audit_entries ADD COLUMN time_ceiling INTEGER');
      db.exec('ALTER TABLE audit_entries ADD COLUMN time_floor INTEGER');
      db.exec(`UPDATE audit_entries SET time_ceiling = bounds.ceiling, time_floor = bounds.floor FROM (
        SELECT seq,
          MAX(occurred_at) OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS ceiling,
          MIN(occurred_at) OVER (ORDER BY seq ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS floor
        FROM audit_entries) AS bounds WHERE audit_entries.seq = bounds.seq`);
    })();
  }
  db.exec('CREATE INDEX IF NOT EXISTS audit_by_time_ceiling ON audit_entries (time_ceiling, seq)');
  db.exec('CREATE INDEX IF NOT EXISTS audit_by_time_floor ON audit_entries (time_floor, seq)');
}

/**
 * An export line's prefix and the event's leaf hash in base64
 * (src/domain/audit/ndjson-line.ts), kept beside each row so that SQLite
 * puts each line of an export together with the log's stored text, instead
 * of building it from an event object (sqlite-audit-index.ts, exportPage).
 * The leaf is the ledger tree's (the same function over the same stored
 * event: eventLeafHash), computed here once rather than read from the tree
 * per row. NULL where the shortcut does not apply: an event with sealed
 * personal data (its line shows it opened, so it is built at export time,
 * and nothing of the person is kept here in clear), a forgotten actor's
 * rows, events filed from messages (already opened), and rows filed before
 * the columns existed.
 */
function addLineParts(db: Database.Database, columns: ReadonlySet<string>): void {
  if (!columns.has('line_prefix')) db.exec('ALTER TABLE audit_entries ADD COLUMN line_prefix TEXT');
  if (!columns.has('line_leaf')) db.exec('ALTER TABLE audit_entries ADD COLUMN line_leaf TEXT');
}

/** Open audit.sqlite with its schema (either thread). NORMAL: the index can be rebuilt from the log (delete the file). */
export function openAuditDatabase(filename: string): Database.Database {
  const db = openDatabase(filename, { synchronous: 'NORMAL', schema: AUDIT_SCHEMA });
  // Columns added after the first files were made: added to an older file once.
  const columns = new Set((db.prepare('PRAGMA table_info(audit_entries)').all() as Array<{ name: string }>).map((c) => c.name));
  addTimeBounds(db, columns);
  addLineParts(db, columns);
  return db;
}

/** What stands for a forgotten subject in the index. */
export const FORGOTTEN = '[erased]';
/** Streams whose organization is kept in memory (the rest is in audit_streams). */
const STREAM_CACHE = 10_000;
/** Terms kept in memory each way (ids of types, organizations, actors, kinds). */
const TERM_CACHE = 100_000;

/** Repeated strings as numbers: `audit_terms`, with a cache each way. Readers only `find` and `valueOf`. */
export class Terms {
  private readonly ids = new Map<string, number>();
  private readonly values = new Map<number, string>();
  private readonly byValue: Database.Statement<[string], { id: number }>;
  private readonly byId: Database.Statement<[number], { value: string }>;
  private insert: Database.Statement<[string]> | undefined;

  constructor(private readonly db: Database.Database) {
    this.byValue = db.prepare('SELECT id FROM audit_terms WHERE value = ?');
    this.byId = db.prepare('SELECT value FROM audit_terms WHERE id = ?');
  }

  /** The term's id, made if new (while filing). */
  idOf(value: string): number {
    const found = this.find(value);
    if (found !== undefined) return found;
    this.insert ??= this.db.prepare('INSERT INTO audit_terms (value) VALUES (?)');
    const id = Number(this.insert.run(value).lastInsertRowid);
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

  /**
   * A forgotten term's value is replaced by one that names nobody; its id is
   * never given to another value (a reader's cache may still hold it).
   */
  forget(value: string): number | undefined {
    const id = this.find(value);
    if (id === undefined) return undefined;
    this.db.prepare('UPDATE audit_terms SET value = ? WHERE id = ?').run(`${FORGOTTEN}#${id}`, id);
    this.ids.delete(value);
    this.values.delete(id);
    return id;
  }

  clear(): void {
    this.ids.clear();
    this.values.clear();
  }

  private remember(value: string, id: number): void {
    if (this.ids.size >= TERM_CACHE) this.clear();
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
 * The audit index's only writer: files events (in log order, a batch per
 * transaction), forgets a person, drops rows whose event retention removed.
 * It runs in the index's worker thread (audit-index-worker.ts), or on the
 * main thread when asked (`thread: 'main'`).
 */
export class AuditFiler {
  readonly db: Database.Database;
  private readonly streams: StreamOrganizations;
  private readonly terms: Terms;
  private readonly statements: {
    insert: Database.Statement<unknown[]>;
    last: Database.Statement<[], { position: number | bigint; prepare: number | bigint }>;
    lastCeiling: Database.Statement<[], { time_ceiling: number | null }>;
    lowerFloors: Database.Statement<[number, number, number]>;
    setFloor: Database.Statement<[number, number]>;
    type: Database.Statement<[string]>;
    name: Database.Statement<[string, string], { name: string }>;
    anyName: Database.Statement<[string], { name: string }>;
    putName: Database.Statement<[string, string, string | null, string]>;
    remove: Database.Statement<[number]>;
  };
  private readonly knownTypes = new Set<string>();
  /** Types filed for the first time since the last `takeNewTypes`. */
  private newTypes: string[] = [];
  /** The newest `occurred_at` filed so far (the next row's ceiling at least). */
  private ceiling: number | undefined;

  constructor(
    filename: string,
    /** Opens sealed personal data: names are filed as readers see them. */
    private readonly open: (event: RecordedEvent) => RecordedEvent = (event) => event,
    /**
     * Whether the events given to `file` are as stored (read from the log, not opened
     * elsewhere): only then is an event without sealed data known to be one, and its
     * export line's parts kept (addLineParts).
     */
    private readonly storedEvents = true,
    /** The ledger tree's leaves, when it can be read: a leaf it already holds is not computed again. */
    private readonly leaves?: LeafReader,
  ) {
    this.db = openAuditDatabase(filename);
    // Eight indexes take rows in scattered places: a page cache of 32 MiB keeps their hot pages in memory while filing.
    this.db.pragma('cache_size = -32768');
    // What forgetSubject deletes is overwritten, not left in free pages.
    this.db.pragma('secure_delete = ON');
    this.streams = new StreamOrganizations(this.db);
    this.terms = new Terms(this.db);
    this.statements = {
      insert: this.db.prepare(
        `INSERT OR IGNORE INTO audit_entries (position, prepare, type, organization_id, resource_kind, resource_id, actor, actor_kind, actor_name, occurred_at, correlation_id, time_ceiling, time_floor, line_prefix, line_leaf)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      last: this.db.prepare('SELECT position, prepare FROM audit_entries ORDER BY seq DESC LIMIT 1'),
      lastCeiling: this.db.prepare('SELECT time_ceiling FROM audit_entries ORDER BY seq DESC LIMIT 1'),
      lowerFloors: this.db.prepare('UPDATE audit_entries SET time_floor = ? WHERE time_floor > ? AND seq < ?'),
      setFloor: this.db.prepare('UPDATE audit_entries SET time_floor = ? WHERE seq = ?'),
      type: this.db.prepare('INSERT OR IGNORE INTO audit_types (type) VALUES (?)'),
      name: this.db.prepare('SELECT name FROM audit_names WHERE organization_id = ? AND subject = ?'),
      anyName: this.db.prepare('SELECT name FROM audit_names WHERE subject = ? LIMIT 1'),
      putName: this.db.prepare('INSERT OR REPLACE INTO audit_names (organization_id, subject, user_id, name) VALUES (?, ?, ?, ?)'),
      remove: this.db.prepare('DELETE FROM audit_entries WHERE seq = ?'),
    };
    for (const { type } of this.db.prepare('SELECT type FROM audit_types').all() as Array<{ type: string }>) this.knownTypes.add(type);
    this.ceiling = this.statements.lastCeiling.get()?.time_ceiling ?? undefined;
  }

  /** The newest position filed (both parts). */
  last(): GlobalPosition | undefined {
    const row = this.statements.last.get();
    return row ? { commit: BigInt(row.position), prepare: BigInt(row.prepare) } : undefined;
  }

  /** Types filed for the first time since the last call (readers expand prefixes against them). */
  takeNewTypes(): string[] {
    const types = this.newTypes;
    this.newTypes = [];
    return types;
  }

  /** File events (in log order) in one transaction. */
  file(events: readonly RecordedEvent[]): void {
    if (events.length === 0) return;
    // The leaves the tree holds already for this batch (usually all of it during a catch-up: the tree files faster).
    const leaves = this.storedEvents ? this.leaves?.base64Between(events[0]!.position.commit, events[events.length - 1]!.position.commit) : undefined;
    this.db.transaction(() => {
      const filed: Array<{ seq: number; occurredAt: number }> = [];
      for (const event of events) {
        const row = this.fileOne(event, leaves);
        if (row) filed.push(row);
      }
      if (filed.length === 0) return;
      // Floors: each row's is the oldest time of it and every row after it. Usually nothing to lower (clocks move on).
      let floor = Number.POSITIVE_INFINITY;
      for (let i = filed.length - 1; i >= 0; i--) {
        const row = filed[i]!;
        if (row.occurredAt > floor) this.statements.setFloor.run(floor, row.seq);
        floor = Math.min(floor, row.occurredAt);
      }
      this.statements.lowerFloors.run(floor, floor, filed[0]!.seq);
    })();
  }

  private fileOne(stored: RecordedEvent, leaves: ReadonlyMap<string, string> | undefined): { seq: number; occurredAt: number } | undefined {
    if (stored.type === TOMBSTONE_EVENT_TYPE) return undefined;
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
      this.newTypes.push(event.type);
    }
    const parsed = Date.parse(event.metadata?.occurredAt ?? '');
    const occurredAt = Number.isFinite(parsed) ? parsed : 0;
    const ceiling = this.ceiling === undefined ? occurredAt : Math.max(this.ceiling, occurredAt);
    const actorName = this.nameOf(actor, attribution.organizationId);
    // The same object back from `open`: nothing sealed in it (encrypting-event-store.ts).
    const prefix = this.storedEvents && event === stored ? linePrefix(stored, attribution, actorName) : undefined;
    const result = this.statements.insert.run(
      event.position.commit,
      event.position.prepare,
      this.terms.idOf(event.type),
      attribution.organizationId === null ? null : this.terms.idOf(attribution.organizationId),
      this.terms.idOf(attribution.resource.kind),
      attribution.resource.id,
      this.terms.idOf(actor.subject),
      actor.kind,
      actorName,
      occurredAt,
      event.metadata?.correlationId ?? '',
      ceiling,
      // The floor of the newest row is its own time; later rows lower it when older (file()).
      occurredAt,
      prefix ?? null,
      prefix === undefined ? null : (leaves?.get(positionToString(stored.position)) ?? eventLeafHash(stored).toString('base64')),
    );
    if (result.changes === 0) return undefined;
    this.ceiling = ceiling;
    return { seq: Number(result.lastInsertRowid), occurredAt };
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
   * filed under a user id or subject, and every row's actor name, subject
   * and export line prefix of theirs. Answers how many rows changed.
   */
  forgetSubject(id: string): number {
    const changed = this.db.transaction(() => {
      const subjects = new Set<string>([id]);
      for (const row of this.db.prepare('SELECT subject FROM audit_names WHERE user_id = ? OR subject = ?').all(id, id) as Array<{ subject: string }>) subjects.add(row.subject);
      let changed = 0;
      const forgotten = this.terms.idOf(FORGOTTEN);
      for (const subject of subjects) {
        this.db.prepare('DELETE FROM audit_names WHERE subject = ?').run(subject);
        const termId = this.terms.forget(subject);
        // The line's prefix names the actor too (an event whose actor was not sealed): those lines are built again at export time.
        if (termId !== undefined) {
          changed += this.db.prepare('UPDATE audit_entries SET actor = ?, actor_name = NULL, line_prefix = NULL WHERE actor = ?').run(forgotten, termId).changes;
        }
      }
      this.db.prepare('DELETE FROM audit_names WHERE user_id = ?').run(id);
      return changed;
    })();
    // And out of the WAL file too.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return changed;
  }

  /** Rows whose event is gone from the log (retention). */
  remove(seqs: readonly number[]): void {
    this.db.transaction(() => {
      for (const seq of seqs) this.statements.remove.run(seq);
    })();
  }

  close(): void {
    this.leaves?.close();
    this.db.close();
  }
}
