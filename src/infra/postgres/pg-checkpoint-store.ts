import type pg from 'pg';
import type { CheckpointStore } from '../../ports/checkpoints.js';
import { type GlobalPosition, parsePosition, positionToString } from '../../ports/event-store.js';
import { ensureSchema, openPool } from './pg-schema.js';

/** Checkpoints in a table beside the events in PostgreSQL, shared by every instance (docs/postgres.md). */
export class PgCheckpointStore implements CheckpointStore {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
  ) {}

  static async open(connectionString: string): Promise<PgCheckpointStore> {
    return new PgCheckpointStore(await openPool(connectionString, 4), true);
  }

  static async usingPool(pool: pg.Pool): Promise<PgCheckpointStore> {
    await ensureSchema(pool);
    return new PgCheckpointStore(pool, false);
  }

  async load(name: string): Promise<GlobalPosition | undefined> {
    const result = await this.pool.query<{ position: string }>('SELECT position FROM checkpoints WHERE name = $1', [name]);
    const row = result.rows[0];
    return row ? parsePosition(row.position) : undefined;
  }

  async save(name: string, position: GlobalPosition): Promise<void> {
    await this.pool.query(
      'INSERT INTO checkpoints (name, position) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET position = excluded.position',
      [name, positionToString(position)],
    );
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}
