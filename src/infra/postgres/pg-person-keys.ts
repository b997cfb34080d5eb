import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { PgListener } from './pg-listener.js';
import { KeyCache, MAX_CACHED_KEYS, MAX_REMEMBERED_ERASURES, RecentErasures } from '../crypto/key-cache.js';
import { type PersonKey, type PersonKeyStore, unwrapPersonKey, wrapPersonKey } from '../crypto/person-keys.js';

const KEY_BYTES = 32;
const ERASED_CHANNEL = 'identity_person_key_erased';

const SCHEMA = `CREATE TABLE IF NOT EXISTS person_keys (
  person_id TEXT PRIMARY KEY,
  wrapped BYTEA NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS erased_persons (
  person_id TEXT PRIMARY KEY,
  erased_at TIMESTAMPTZ NOT NULL DEFAULT now()
);`;

/** A transaction-level advisory lock per person: making a key and erasing it never interleave. */
const personLock = (personId: string): string => createHash('sha256').update(`identity-service:person-key:${personId}`).digest().readBigInt64BE(0).toString();
const SCHEMA_LOCK = personLock('\u0000schema');

/**
 * Crypto-shredding's data keys in PostgreSQL (docs/cluster.md), for several
 * instances on one database: what one instance sealed, every other opens, and
 * an erasure on one takes effect on all. Keys are wrapped as in the SQLite
 * store (AES-256-GCM under a key derived from the shared master secret, the
 * person's id as additional data), so the table alone opens nothing.
 *
 * `keyFor` and `lookup` answer from memory; `prepare` (called by the event
 * store before it seals or opens events) makes or fetches the keys first.
 * Memory holds at most `maxCachedKeys` unwrapped keys (100,000 by default, as
 * the SQLite store: key-cache.ts); a key that left it is fetched again. An
 * erasure deletes the row, records the person as erased (a late event never
 * makes a new key) and tells every instance by NOTIFY; each zeroes and evicts
 * its copy and runs its own erasure hooks. A lost notification connection
 * evicts every cached key (they are fetched again).
 */
export class PgPersonKeys implements PersonKeyStore {
  private readonly listeners: ((personId: string) => void)[] = [];
  private listener: PgListener | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly connectionString: string,
    private readonly wrappingKey: Uint8Array,
    private readonly logger: Logger | undefined,
    private readonly cache: KeyCache,
    /** Erasures known without a query (bounded: one that left memory is read from `erased_persons` again). */
    private readonly erased: RecentErasures,
  ) {}

  /**
   * `maxCachedKeys`: unwrapped keys kept in memory at most, as in the SQLite store (key-cache.ts); the others are fetched again.
   * `maxRememberedErasures`: erased persons known without a query at most (the table keeps them all).
   */
  static async connect(
    connectionString: string,
    wrappingKey: Uint8Array,
    logger?: Logger,
    options: { readonly maxCachedKeys?: number; readonly maxRememberedErasures?: number } = {},
  ): Promise<PgPersonKeys> {
    // Both checked before anything connects.
    const cache = new KeyCache(options.maxCachedKeys ?? MAX_CACHED_KEYS);
    const erased = new RecentErasures(options.maxRememberedErasures ?? MAX_REMEMBERED_ERASURES);
    const pool = new pg.Pool({ connectionString, max: 4, application_name: 'identity-service person-keys' });
    pool.on('error', (error) => logger?.warn({ err: error }, 'person-keys pool connection error'));
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [SCHEMA_LOCK]);
      await client.query(SCHEMA);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    const keys = new PgPersonKeys(pool, connectionString, wrappingKey, logger, cache, erased);
    await keys.listen();
    return keys;
  }

  /**
   * LISTEN for erasures on a dedicated connection. Erasures notified while it
   * is down are missed, so every cached key goes when it is lost, and again
   * once it listens anew (keys fetched during the gap may have been erased since).
   */
  private listen(): Promise<void> {
    this.listener = new PgListener({
      connectionString: this.connectionString,
      channel: ERASED_CHANNEL,
      applicationName: 'identity-service person-keys listener',
      ...(this.logger && { logger: this.logger }),
      onNotification: (personId) => {
        this.forget(personId);
        for (const listener of this.listeners) listener(personId);
      },
      onLost: () => this.evictAll(),
      onListening: () => this.evictAll(),
    });
    return this.listener.start();
  }

  onErasedElsewhere(listener: (personId: string) => void): void {
    this.listeners.push(listener);
  }

  async prepare(personIds: readonly string[], options: { readonly create: boolean }): Promise<void> {
    const missing = [...new Set(personIds)].filter((id) => !this.cache.has(id) && !this.erased.has(id)).sort();
    if (missing.length === 0) return;
    if (options.create) {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        for (const personId of missing) {
          await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [personLock(personId)]);
          await client.query(
            `INSERT INTO person_keys (person_id, wrapped) SELECT $1, $2
             WHERE NOT EXISTS (SELECT 1 FROM erased_persons WHERE person_id = $1) ON CONFLICT (person_id) DO NOTHING`,
            [personId, this.wrap(personId, randomBytes(KEY_BYTES))],
          );
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    }
    const { rows } = await this.pool.query<{ person_id: string; wrapped: Buffer }>('SELECT person_id, wrapped FROM person_keys WHERE person_id = ANY($1)', [missing]);
    for (const row of rows) if (!this.erased.has(row.person_id)) this.cache.set(row.person_id, this.unwrap(row.person_id, row.wrapped));
    const absent = missing.filter((id) => !this.cache.has(id));
    if (absent.length === 0) return;
    const erased = await this.pool.query<{ person_id: string }>('SELECT person_id FROM erased_persons WHERE person_id = ANY($1)', [absent]);
    for (const row of erased.rows) this.forget(row.person_id);
  }

  get erasureGeneration(): number {
    return this.cache.generation;
  }

  keyFor(personId: string): Buffer | undefined {
    const found = this.lookup(personId);
    if (found.state === 'live') return found.key;
    if (found.state === 'destroyed') return undefined;
    throw new Error(`the data key of ${personId} was not prepared before sealing`);
  }

  lookup(personId: string): PersonKey {
    const cached = this.cache.get(personId);
    if (cached) return { state: 'live', key: cached };
    return this.erased.has(personId) ? { state: 'destroyed' } : { state: 'none' };
  }

  /** Erase on every instance: the row deleted, the person recorded as erased, the others told. */
  async destroy(personId: string): Promise<boolean> {
    this.forget(personId);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [personLock(personId)]);
      const { rowCount } = await client.query('DELETE FROM person_keys WHERE person_id = $1', [personId]);
      await client.query('INSERT INTO erased_persons (person_id) VALUES ($1) ON CONFLICT (person_id) DO NOTHING', [personId]);
      await client.query('SELECT pg_notify($1, $2)', [ERASED_CHANNEL, personId]);
      await client.query('COMMIT');
      return (rowCount ?? 0) > 0;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private forget(personId: string): void {
    this.cache.forget(personId);
    this.erased.add(personId);
  }

  evictAll(): void {
    this.cache.clear();
  }

  async close(): Promise<void> {
    this.evictAll();
    await this.listener?.close();
    await this.pool.end();
  }

  private wrap(personId: string, key: Buffer): Buffer {
    return wrapPersonKey(this.wrappingKey, personId, key);
  }

  private unwrap(personId: string, wrapped: Buffer): Buffer {
    return unwrapPersonKey(this.wrappingKey, personId, wrapped);
  }
}
