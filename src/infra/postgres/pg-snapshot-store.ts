import type pg from 'pg';
import type { SnapshotStore, StoredSnapshot } from '../../ports/snapshots.js';
import { ensureSchema, openPool } from './pg-schema.js';

/** Chunks written or read per statement. */
const CHUNKS_PER_BATCH = 8;

/**
 * Snapshots in two tables beside the events in PostgreSQL, as the SQLite
 * store keeps them (src/infra/sqlite/sqlite-snapshot-store.ts): a header per
 * stream and policy version naming the current snapshot's revision, its
 * chunks in rows, written a batch at a time, then made current by switching
 * the header (only to a newer revision); other revisions' rows are deleted
 * afterwards. A load that finds the snapshot replaced meanwhile answers none.
 * Snapshots are a cache: several instances may write them, the newest wins.
 */
export class PgSnapshotStore implements SnapshotStore {
  /** Counters, for tests and the benchmark. */
  readonly stats = { loads: 0, saves: 0 };
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
  ) {}

  static async open(connectionString: string): Promise<PgSnapshotStore> {
    return new PgSnapshotStore(await openPool(connectionString, 4), true);
  }

  static async usingPool(pool: pg.Pool): Promise<PgSnapshotStore> {
    await ensureSchema(pool);
    return new PgSnapshotStore(pool, false);
  }

  private async header(streamName: string, version: string): Promise<{ revision: number; chunks: number } | undefined> {
    const result = await this.pool.query<{ revision: number; chunks: number }>(
      'SELECT revision, chunks FROM snapshots WHERE stream_name = $1 AND version = $2',
      [streamName, version],
    );
    return result.rows[0];
  }

  async load(streamName: string, version: string): Promise<StoredSnapshot | undefined> {
    this.stats.loads++;
    const header = await this.header(streamName, version);
    if (!header) return undefined;
    const chunks: string[] = [];
    while (chunks.length < header.chunks) {
      const rows = (
        await this.pool.query<{ chunk: number; data: string }>(
          `SELECT chunk, data FROM snapshot_chunks WHERE stream_name = $1 AND version = $2 AND revision = $3 AND chunk >= $4
            ORDER BY chunk ASC LIMIT ${CHUNKS_PER_BATCH}`,
          [streamName, version, header.revision, chunks.length],
        )
      ).rows;
      // Replaced (and its rows deleted) while we read: no snapshot rather than half of one.
      if (rows.length === 0) return undefined;
      for (const row of rows) {
        if (row.chunk !== chunks.length) return undefined;
        chunks.push(row.data);
      }
    }
    return { revision: header.revision, chunks };
  }

  async save(streamName: string, version: string, snapshot: StoredSnapshot): Promise<void> {
    if (snapshot.chunks.length === 0) throw new Error('a snapshot has at least one chunk');
    const current = await this.header(streamName, version);
    if (current && current.revision >= snapshot.revision) return;
    this.stats.saves++;
    for (let from = 0; from < snapshot.chunks.length; from += CHUNKS_PER_BATCH) {
      if (this.closed) return;
      const numbers: number[] = [];
      const data: string[] = [];
      for (let chunk = from; chunk < Math.min(from + CHUNKS_PER_BATCH, snapshot.chunks.length); chunk++) {
        numbers.push(chunk);
        data.push(snapshot.chunks[chunk]!);
      }
      await this.pool.query(
        `INSERT INTO snapshot_chunks (stream_name, version, revision, chunk, data)
         SELECT $1, $2, $3, c, d FROM unnest($4::int[], $5::text[]) AS t(c, d)
         ON CONFLICT (stream_name, version, revision, chunk) DO UPDATE SET data = excluded.data`,
        [streamName, version, snapshot.revision, numbers, data],
      );
    }
    if (this.closed) return;
    // Only a newer snapshot replaces the current one.
    const switched = await this.pool.query(
      `INSERT INTO snapshots (stream_name, version, revision, chunks) VALUES ($1, $2, $3, $4)
       ON CONFLICT (stream_name, version) DO UPDATE SET revision = excluded.revision, chunks = excluded.chunks
       WHERE excluded.revision > snapshots.revision`,
      [streamName, version, snapshot.revision, snapshot.chunks.length],
    );
    const keep = switched.rowCount ? snapshot.revision : ((await this.header(streamName, version))?.revision ?? snapshot.revision);
    if (this.closed) return;
    // Whichever snapshot is current now, every other one of this stream and version goes.
    await this.pool.query('DELETE FROM snapshot_chunks WHERE stream_name = $1 AND version = $2 AND revision <> $3', [streamName, version, keep]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }
}
