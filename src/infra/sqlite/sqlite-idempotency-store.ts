import Database from 'better-sqlite3';
import type { ClaimResult, IdempotencyRecord, IdempotencyStore, StoredResponse } from '../../ports/idempotency.js';
import { openDatabase } from './open-database.js';

interface Row {
  request_hash: string;
  state: 'pending' | 'done';
  created_at: number;
  status: number | null;
  headers: string | null;
  body: string | null;
  body_expires_at: number | null;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS idempotency_keys (
  scope TEXT PRIMARY KEY,
  request_hash TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  status INTEGER,
  headers TEXT,
  body TEXT,
  body_expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);`;

/** Idempotency-Key records in a table of the embedded database file, durable like the events. */
export class SqliteIdempotencyStore implements IdempotencyStore {
  private readonly db: Database.Database;
  private readonly claimTransaction: (scope: string, requestHash: string, now: number, retainSince: number, pendingSince: number) => ClaimResult;

  constructor(filename: string) {
    this.db = openDatabase(filename, { synchronous: 'FULL', schema: SCHEMA });
    const select = this.db.prepare<[string], Row>('SELECT request_hash, state, created_at, status, headers, body, body_expires_at FROM idempotency_keys WHERE scope = ?');
    const upsert = this.db.prepare<[string, string, number]>(
      `INSERT INTO idempotency_keys (scope, request_hash, state, created_at) VALUES (?, ?, 'pending', ?)
       ON CONFLICT (scope) DO UPDATE SET request_hash = excluded.request_hash, state = 'pending', created_at = excluded.created_at,
         status = NULL, headers = NULL, body = NULL, body_expires_at = NULL`,
    );
    // One transaction: read, decide, write. better-sqlite3 runs it synchronously, and SQLite's write lock serializes processes.
    const claim = this.db.transaction((scope: string, requestHash: string, now: number, retainSince: number, pendingSince: number): ClaimResult => {
      const row = select.get(scope);
      const stale = row && (row.created_at < retainSince || (row.state === 'pending' && row.created_at < pendingSince));
      if (row && !stale) return { claimed: false, record: toRecord(row, now) };
      upsert.run(scope, requestHash, now);
      return { claimed: true };
    });
    this.claimTransaction = (...args) => claim.immediate(...args);
  }

  async claim(scope: string, requestHash: string, now: number, retainSince: number, pendingSince: number): Promise<ClaimResult> {
    return this.claimTransaction(scope, requestHash, now, retainSince, pendingSince);
  }

  async complete(scope: string, response: StoredResponse): Promise<void> {
    this.db
      .prepare(`UPDATE idempotency_keys SET state = 'done', status = ?, headers = ?, body = ?, body_expires_at = ? WHERE scope = ?`)
      .run(response.status, JSON.stringify(response.headers), response.sealedBody ?? null, response.bodyExpiresAt ?? null, scope);
  }

  async release(scope: string): Promise<void> {
    this.db.prepare(`DELETE FROM idempotency_keys WHERE scope = ? AND state = 'pending'`).run(scope);
  }

  async purge(now: number, retainSince: number): Promise<void> {
    this.db.prepare('DELETE FROM idempotency_keys WHERE created_at < ?').run(retainSince);
    this.db.prepare('UPDATE idempotency_keys SET body = NULL, body_expires_at = NULL WHERE body_expires_at IS NOT NULL AND body_expires_at <= ?').run(now);
  }

  async forget(mentions: (scope: string, sealedBody: string) => boolean): Promise<number> {
    const rows = this.db.prepare<[], { scope: string; body: string }>('SELECT scope, body FROM idempotency_keys WHERE body IS NOT NULL').all();
    const doomed = rows.filter((row) => mentions(row.scope, row.body)).map((row) => row.scope);
    const remove = this.db.prepare<[string]>('DELETE FROM idempotency_keys WHERE scope = ?');
    // Overwritten, not just unlinked from the b-tree (the bodies are sealed with the secrets key, which stays);
    // then the WAL is copied back and truncated, best effort (another connection may be reading).
    this.db.pragma('secure_delete = ON');
    try {
      this.db.transaction(() => {
        for (const scope of doomed) remove.run(scope);
      })();
    } finally {
      this.db.pragma('secure_delete = OFF');
    }
    if (doomed.length > 0) this.db.pragma('wal_checkpoint(TRUNCATE)');
    return doomed.length;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

function toRecord(row: Row, now: number): IdempotencyRecord {
  if (row.state === 'pending') return { state: 'pending', requestHash: row.request_hash, createdAt: row.created_at };
  // A body past its expiry is gone, whether or not the purge has run yet.
  const expired = row.body_expires_at !== null && row.body_expires_at <= now;
  return {
    state: 'done',
    requestHash: row.request_hash,
    createdAt: row.created_at,
    status: row.status ?? 200,
    headers: JSON.parse(row.headers ?? '{}') as Record<string, string>,
    ...(row.body !== null && !expired && { sealedBody: row.body }),
    ...(row.body_expires_at !== null && { bodyExpiresAt: row.body_expires_at }),
  };
}
