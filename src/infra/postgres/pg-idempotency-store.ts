import type pg from 'pg';
import type { ClaimResult, IdempotencyRecord, IdempotencyStore, StoredResponse } from '../../ports/idempotency.js';
import { ensureSchema, openPool } from './pg-schema.js';

interface Row {
  request_hash: string;
  state: 'pending' | 'done';
  created_at: string;
  status: number | null;
  headers: string | null;
  body: string | null;
  body_expires_at: string | null;
}

/**
 * Idempotency-Key records in PostgreSQL, shared by every instance: a claim is
 * one transaction that locks the scope's row (or inserts it), so of two
 * concurrent requests on any instances, one claims and the other sees the record.
 */
export class PgIdempotencyStore implements IdempotencyStore {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
  ) {}

  static async open(connectionString: string): Promise<PgIdempotencyStore> {
    return new PgIdempotencyStore(await openPool(connectionString, 4), true);
  }

  static async usingPool(pool: pg.Pool): Promise<PgIdempotencyStore> {
    await ensureSchema(pool);
    return new PgIdempotencyStore(pool, false);
  }

  async claim(scope: string, requestHash: string, now: number, retainSince: number, pendingSince: number): Promise<ClaimResult> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // A new scope: inserted (a concurrent insert of the same scope waits here for ours, then sees it).
      const inserted = await client.query(
        `INSERT INTO idempotency_keys (scope, request_hash, state, created_at) VALUES ($1, $2, 'pending', $3) ON CONFLICT (scope) DO NOTHING`,
        [scope, requestHash, now],
      );
      if (inserted.rowCount === 1) {
        await client.query('COMMIT');
        return { claimed: true };
      }
      const row = (
        await client.query<Row>(
          'SELECT request_hash, state, created_at, status, headers, body, body_expires_at FROM idempotency_keys WHERE scope = $1 FOR UPDATE',
          [scope],
        )
      ).rows[0];
      const createdAt = row ? Number(row.created_at) : 0;
      const stale = !row || createdAt < retainSince || (row.state === 'pending' && createdAt < pendingSince);
      if (!stale) {
        await client.query('COMMIT');
        return { claimed: false, record: toRecord(row, now) };
      }
      await client.query(
        `INSERT INTO idempotency_keys (scope, request_hash, state, created_at) VALUES ($1, $2, 'pending', $3)
         ON CONFLICT (scope) DO UPDATE SET request_hash = excluded.request_hash, state = 'pending', created_at = excluded.created_at,
           status = NULL, headers = NULL, body = NULL, body_expires_at = NULL`,
        [scope, requestHash, now],
      );
      await client.query('COMMIT');
      return { claimed: true };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async complete(scope: string, response: StoredResponse): Promise<void> {
    await this.pool.query(`UPDATE idempotency_keys SET state = 'done', status = $1, headers = $2, body = $3, body_expires_at = $4 WHERE scope = $5`, [
      response.status,
      JSON.stringify(response.headers),
      response.sealedBody ?? null,
      response.bodyExpiresAt ?? null,
      scope,
    ]);
  }

  async release(scope: string): Promise<void> {
    await this.pool.query(`DELETE FROM idempotency_keys WHERE scope = $1 AND state = 'pending'`, [scope]);
  }

  async purge(now: number, retainSince: number): Promise<void> {
    await this.pool.query('DELETE FROM idempotency_keys WHERE created_at < $1', [retainSince]);
    await this.pool.query('UPDATE idempotency_keys SET body = NULL, body_expires_at = NULL WHERE body_expires_at IS NOT NULL AND body_expires_at <= $1', [now]);
  }

  async forget(mentions: (scope: string, sealedBody: string) => boolean): Promise<number> {
    const rows = (await this.pool.query<{ scope: string; body: string }>('SELECT scope, body FROM idempotency_keys WHERE body IS NOT NULL')).rows;
    const doomed = rows.filter((row) => mentions(row.scope, row.body)).map((row) => row.scope);
    if (doomed.length > 0) await this.pool.query('DELETE FROM idempotency_keys WHERE scope = ANY($1::text[])', [doomed]);
    return doomed.length;
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}

function toRecord(row: Row, now: number): IdempotencyRecord {
  const createdAt = Number(row.created_at);
  if (row.state === 'pending') return { state: 'pending', requestHash: row.request_hash, createdAt };
  const expiresAt = row.body_expires_at === null ? null : Number(row.body_expires_at);
  // A body past its expiry is gone, whether or not the purge has run yet.
  const expired = expiresAt !== null && expiresAt <= now;
  return {
    state: 'done',
    requestHash: row.request_hash,
    createdAt,
    status: row.status ?? 200,
    headers: JSON.parse(row.headers ?? '{}') as Record<string, string>,
    ...(row.body !== null && !expired && { sealedBody: row.body }),
    ...(expiresAt !== null && { bodyExpiresAt: expiresAt }),
  };
}
