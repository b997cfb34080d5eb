import Database from 'better-sqlite3';
import { dirname } from 'node:path';
import { preparePrivateDirectory, preparePrivateFile } from '../files/private-files.js';
import type { SnapshotStore, StoredSnapshot } from '../../ports/snapshots.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS snapshots (
    stream_name TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    chunk       INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    PRIMARY KEY (stream_name, version, chunk)
  );
`;

/**
 * Snapshots in a table of the embedded database file, beside the events: one
 * snapshot per stream and policy version, its chunks in rows, replaced in one
 * transaction so a load never sees half of two snapshots. Snapshots are a
 * cache, so they are written without waiting for an fsync of their own.
 */
export class SqliteSnapshotStore implements SnapshotStore {
  private readonly db: Database.Database;
  private readonly statements: {
    revision: Database.Statement<[string, string], { revision: number }>;
    load: Database.Statement<[string, string], { revision: number; data: string }>;
    remove: Database.Statement<[string, string]>;
    insert: Database.Statement<[string, string, number, number, string]>;
  };
  private readonly replace: (streamName: string, version: string, snapshot: StoredSnapshot) => void;
  /** Counters, for tests and the benchmark. */
  readonly stats = { loads: 0, saves: 0 };

  constructor(filename: string) {
    if (filename !== ':memory:') {
      preparePrivateDirectory(dirname(filename));
      preparePrivateFile(filename);
    }
    this.db = new Database(filename);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.statements = {
      revision: this.db.prepare('SELECT revision FROM snapshots WHERE stream_name = ? AND version = ? AND chunk = 0'),
      load: this.db.prepare('SELECT revision, data FROM snapshots WHERE stream_name = ? AND version = ? ORDER BY chunk ASC'),
      remove: this.db.prepare('DELETE FROM snapshots WHERE stream_name = ? AND version = ?'),
      insert: this.db.prepare('INSERT INTO snapshots (stream_name, version, revision, chunk, data) VALUES (?, ?, ?, ?, ?)'),
    };
    this.replace = this.db.transaction((streamName: string, version: string, snapshot: StoredSnapshot) => {
      const current = this.statements.revision.get(streamName, version)?.revision;
      if (current !== undefined && current >= snapshot.revision) return;
      this.statements.remove.run(streamName, version);
      snapshot.chunks.forEach((data, chunk) => this.statements.insert.run(streamName, version, snapshot.revision, chunk, data));
    });
  }

  async load(streamName: string, version: string): Promise<StoredSnapshot | undefined> {
    this.stats.loads++;
    const rows = this.statements.load.all(streamName, version);
    if (rows.length === 0) return undefined;
    return { revision: rows[0]!.revision, chunks: rows.map((row) => row.data) };
  }

  async save(streamName: string, version: string, snapshot: StoredSnapshot): Promise<void> {
    if (snapshot.chunks.length === 0) throw new Error('a snapshot has at least one chunk');
    this.stats.saves++;
    this.replace(streamName, version, snapshot);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
