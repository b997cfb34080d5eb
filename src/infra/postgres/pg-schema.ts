import pg from 'pg';

/**
 * The PostgreSQL schema of every store (docs/postgres.md), created
 * idempotently when a store opens. Stream names and scopes use the "C"
 * collation: byte order, so that a category (a name prefix) is a range of the
 * index, as in SQLite.
 */
export const PG_SCHEMA = `
  CREATE TABLE IF NOT EXISTS events (
    position    BIGINT  PRIMARY KEY,
    stream_name TEXT    COLLATE "C" NOT NULL,
    revision    INTEGER NOT NULL,
    event_id    TEXT    NOT NULL UNIQUE,
    type        TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    metadata    TEXT    NOT NULL,
    UNIQUE (stream_name, revision)
  );
  CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT PRIMARY KEY,
    position TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS snapshots (
    stream_name TEXT    COLLATE "C" NOT NULL,
    version     TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    chunks      INTEGER NOT NULL,
    PRIMARY KEY (stream_name, version)
  );
  CREATE TABLE IF NOT EXISTS snapshot_chunks (
    stream_name TEXT    COLLATE "C" NOT NULL,
    version     TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    chunk       INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    PRIMARY KEY (stream_name, version, revision, chunk)
  );
  CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope           TEXT COLLATE "C" PRIMARY KEY,
    request_hash    TEXT NOT NULL,
    state           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    status          INTEGER,
    headers         TEXT,
    body            TEXT,
    body_expires_at BIGINT
  );
  CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
`;

/** The advisory lock every append transaction holds until it commits (docs/postgres.md: why positions follow commit order). */
export const APPEND_LOCK = 0x1d_e7_e5_00n;
/** The lock that serialises schema creation (CREATE TABLE IF NOT EXISTS races with itself in PostgreSQL). */
const SCHEMA_LOCK = 0x1d_e7_e5_01n;
/** The channel appends notify, with the new head position as payload. */
export const EVENTS_CHANNEL = 'identity_events';

/** bigint columns as strings (pg's default), parsed where they are read. */
export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  // An idle client that loses its connection emits here; without a listener the process would crash.
  pool.on('error', () => {});
  return pool;
}

const ensured = new WeakMap<pg.Pool, Promise<void>>();

/** Create the tables once per pool (idempotent across processes, under an advisory lock). */
/** A pool with the schema in place; the pool is closed again when the schema cannot be made. */
export async function openPool(connectionString: string, max: number): Promise<pg.Pool> {
  const pool = createPool(connectionString, max);
  try {
    await ensureSchema(pool);
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  return pool;
}

export function ensureSchema(pool: pg.Pool): Promise<void> {
  let done = ensured.get(pool);
  if (!done) {
    done = (async () => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK.toString()]);
        await client.query(PG_SCHEMA);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    })();
    ensured.set(pool, done);
    done.catch(() => ensured.delete(pool));
  }
  return done;
}
