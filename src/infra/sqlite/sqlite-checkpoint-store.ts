import Database from 'better-sqlite3';
import { openDatabase } from './open-database.js';
import type { CheckpointStore } from '../../ports/checkpoints.js';
import { type GlobalPosition, parsePosition, positionToString } from '../../ports/event-store.js';

/** Checkpoints in a table of the embedded database file, committed durably like the events. */
export class SqliteCheckpointStore implements CheckpointStore {
  private readonly db: Database.Database;
  private readonly select: Database.Statement<[string], { position: string }>;
  private readonly upsert: Database.Statement<[string, string]>;

  constructor(filename: string) {
    this.db = openDatabase(filename, { synchronous: 'FULL', schema: 'CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position TEXT NOT NULL)' });
    this.select = this.db.prepare('SELECT position FROM checkpoints WHERE name = ?');
    this.upsert = this.db.prepare(
      'INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position',
    );
  }

  async load(name: string): Promise<GlobalPosition | undefined> {
    const row = this.select.get(name);
    return row ? parsePosition(row.position) : undefined;
  }

  async save(name: string, position: GlobalPosition): Promise<void> {
    this.upsert.run(name, positionToString(position));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
