import Database from 'better-sqlite3';
import { openDatabase } from './open-database.js';
import type { SnapshotStore, StoredSnapshot } from '../../ports/snapshots.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS snapshots (
    stream_name TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    chunks      INTEGER NOT NULL,
    PRIMARY KEY (stream_name, version)
  );
  CREATE TABLE IF NOT EXISTS snapshot_chunks (
    stream_name TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    chunk       INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    PRIMARY KEY (stream_name, version, revision, chunk)
  );
`;

/** Chunks written or read per transaction; the event loop gets a turn between batches. */
const CHUNKS_PER_BATCH = 8;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Snapshots in two tables of the embedded database file, beside the events:
 * per stream and policy version, a header naming the current snapshot's
 * revision, and its chunks in rows. A big snapshot is written a few chunks per
 * transaction (so no single write stalls the process), then made current by
 * switching the header in one small transaction; the previous snapshot's rows
 * are deleted afterwards, in batches too. A load reads the header, then the
 * chunks in batches; if that snapshot was replaced meanwhile, the load finds
 * nothing and the caller folds the stream instead. Snapshots are a cache, so
 * they are written without an fsync of their own (synchronous=NORMAL).
 */
export class SqliteSnapshotStore implements SnapshotStore {
  private readonly db: Database.Database;
  private readonly statements: {
    header: Database.Statement<[string, string], { revision: number; chunks: number }>;
    chunks: Database.Statement<[string, string, number, number, number], { chunk: number; data: string }>;
    insertChunk: Database.Statement<[string, string, number, number, string]>;
    upsertHeader: Database.Statement<[string, string, number, number]>;
    staleChunks: Database.Statement<[string, string, number, number], { rowid: number }>;
    deleteChunk: Database.Statement<[number]>;
  };
  /** Counters, for tests and the benchmark. */
  readonly stats = { loads: 0, saves: 0 };

  constructor(filename: string) {
    // Snapshots can always be rebuilt from the log: no fsync per write.
    this.db = openDatabase(filename, { synchronous: 'NORMAL', schema: SCHEMA });
    this.statements = {
      header: this.db.prepare('SELECT revision, chunks FROM snapshots WHERE stream_name = ? AND version = ?'),
      chunks: this.db.prepare(
        'SELECT chunk, data FROM snapshot_chunks WHERE stream_name = ? AND version = ? AND revision = ? AND chunk >= ? ORDER BY chunk ASC LIMIT ?',
      ),
      insertChunk: this.db.prepare(
        'INSERT OR REPLACE INTO snapshot_chunks (stream_name, version, revision, chunk, data) VALUES (?, ?, ?, ?, ?)',
      ),
      // Only a newer snapshot replaces the current one.
      upsertHeader: this.db.prepare(
        `INSERT INTO snapshots (stream_name, version, revision, chunks) VALUES (?, ?, ?, ?)
         ON CONFLICT (stream_name, version) DO UPDATE SET revision = excluded.revision, chunks = excluded.chunks
         WHERE excluded.revision > snapshots.revision`,
      ),
      staleChunks: this.db.prepare(
        'SELECT rowid FROM snapshot_chunks WHERE stream_name = ? AND version = ? AND revision != ? LIMIT ?',
      ),
      deleteChunk: this.db.prepare('DELETE FROM snapshot_chunks WHERE rowid = ?'),
    };
  }

  async load(streamName: string, version: string): Promise<StoredSnapshot | undefined> {
    this.stats.loads++;
    const header = this.statements.header.get(streamName, version);
    if (!header) return undefined;
    const chunks: string[] = [];
    while (chunks.length < header.chunks) {
      if (chunks.length > 0) await yieldToEventLoop();
      const rows = this.statements.chunks.all(streamName, version, header.revision, chunks.length, CHUNKS_PER_BATCH);
      // Replaced (and its rows deleted) while we read: no snapshot rather than half of one.
      if (rows.length === 0 || rows[0]!.chunk !== chunks.length) return undefined;
      for (const row of rows) {
        if (row.chunk !== chunks.length) return undefined;
        chunks.push(row.data);
      }
    }
    return { revision: header.revision, chunks };
  }

  async save(streamName: string, version: string, snapshot: StoredSnapshot): Promise<void> {
    if (snapshot.chunks.length === 0) throw new Error('a snapshot has at least one chunk');
    const current = this.statements.header.get(streamName, version);
    if (current && current.revision >= snapshot.revision) return;
    this.stats.saves++;
    const insertBatch = this.db.transaction((from: number) => {
      for (let chunk = from; chunk < Math.min(from + CHUNKS_PER_BATCH, snapshot.chunks.length); chunk++) {
        this.statements.insertChunk.run(streamName, version, snapshot.revision, chunk, snapshot.chunks[chunk]!);
      }
    });
    for (let from = 0; from < snapshot.chunks.length; from += CHUNKS_PER_BATCH) {
      if (from > 0) await yieldToEventLoop();
      if (!this.db.open) return;
      insertBatch(from);
    }
    const switched = this.statements.upsertHeader.run(streamName, version, snapshot.revision, snapshot.chunks.length).changes > 0;
    // Whichever snapshot is current now, every other one of this stream and version goes.
    const keep = switched ? snapshot.revision : (this.statements.header.get(streamName, version)?.revision ?? snapshot.revision);
    const deleteBatch = this.db.transaction((rowids: number[]) => {
      for (const rowid of rowids) this.statements.deleteChunk.run(rowid);
    });
    for (;;) {
      await yieldToEventLoop();
      if (!this.db.open) return;
      const stale = this.statements.staleChunks.all(streamName, version, keep, CHUNKS_PER_BATCH).map((row) => row.rowid);
      if (stale.length === 0) return;
      deleteBatch(stale);
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
