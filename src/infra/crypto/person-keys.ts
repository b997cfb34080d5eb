import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { openDatabase } from '../sqlite/open-database.js';
import { KeyCache, MAX_CACHED_KEYS } from './key-cache.js';
import { KeyMakerThread } from './key-maker-thread.js';

export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

const SCHEMA = `CREATE TABLE IF NOT EXISTS person_keys (
  person_id TEXT PRIMARY KEY,
  wrapped BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS erased_persons (
  person_id TEXT PRIMARY KEY,
  erased_at INTEGER NOT NULL
);`;

/** The key file, as every connection to it opens it: durable commits, and freed bytes overwritten (an erased key's row). */
export function openKeyFile(filename: string): Database.Database {
  const db = openDatabase(filename, { synchronous: 'FULL', schema: SCHEMA });
  db.pragma('secure_delete = ON');
  return db;
}

/** What a person's key lookup finds: the key, a key that was destroyed, or none ever made. */
export type PersonKey = { readonly state: 'live'; readonly key: Buffer } | { readonly state: 'destroyed' } | { readonly state: 'none' };

/**
 * Where the data keys are kept: this file (one instance), or PostgreSQL
 * (several instances, src/infra/postgres/pg-person-keys.ts). `keyFor` and
 * `lookup` answer synchronously; a store shared over the network has
 * `prepare`, which the event store calls before sealing or opening events.
 */
export interface PersonKeyStore {
  keyFor(personId: string): Buffer | undefined;
  lookup(personId: string): PersonKey;
  destroy(personId: string): boolean | Promise<boolean>;
  /** Fetch (and with `create`, make) these persons' keys so that keyFor and lookup can answer them. */
  prepare?(personIds: readonly string[], options: { readonly create: boolean }): Promise<void>;
  /**
   * Make the keys these persons do not have yet, in one durable write for
   * everything asked in the same turn of the event loop (a group commit), so
   * that `keyFor` then answers from memory. Local stores only.
   */
  makeKeys?(personIds: readonly string[]): Promise<void>;
  /**
   * Moves whenever a key leaves memory as an erasure (here or, heard, elsewhere) or all of them do: whoever keeps
   * events opened under the keys (EvolvingEventStore) drops them when it has moved (key-cache.ts).
   */
  readonly erasureGeneration: number;
  /** Hears erasures done by another instance (shared stores only). */
  onErasedElsewhere?(listener: (personId: string) => void): void;
  evictAll(): void;
  close(): void | Promise<void>;
}

/**
 * Make these persons' keys where they have none (never for an erased person), in one durable write: the local
 * store's group write, or the shared store's `prepare`. Resolves once `keyFor` answers them from memory.
 */
export function makePersonKeys(store: PersonKeyStore, personIds: readonly string[]): Promise<void> {
  if (store.makeKeys) return store.makeKeys(personIds);
  if (store.prepare) return store.prepare(personIds, { create: true });
  for (const personId of personIds) store.keyFor(personId);
  return Promise.resolve();
}

/**
 * The data keys of crypto-shredding (docs/crypto-shredding.md): one random
 * AES-256 key per person, created with the first event about them, stored in
 * `DATA_DIR/person-keys.sqlite` wrapped (AES-256-GCM, the person's id as
 * additional data) by a key derived from the service's secrets key, which
 * never enters the log. Unwrapped keys are cached in memory.
 *
 * `destroy` is erasure: the row is deleted with `secure_delete` on (SQLite
 * overwrites the freed bytes), the WAL is checkpointed and truncated (no old
 * page with the key stays in the -wal file), the cached key is zeroed and
 * evicted, and the person is recorded as erased (by id only) so that a late
 * event about them never makes a new key.
 */
export class PersonKeys implements PersonKeyStore {
  private readonly db: Database.Database;
  private readonly cache: KeyCache;
  private readonly select: Database.Statement<[string], { wrapped: Buffer }>;
  private readonly erased: Database.Statement<[string], { person_id: string }>;
  private readonly insert: Database.Statement<[string, Buffer, number]>;
  /** Where `makeKeys` writes: a thread of its own, so the event loop waits for neither the wrapping nor the fsync. */
  private readonly maker: KeyMakerThread | undefined;

  constructor(
    filename: string,
    private readonly wrappingKey: Uint8Array,
    /** Unwrapped keys kept in memory at most (key-cache.ts: the one cached longest ago goes first, read from the file again when needed). */
    maxCachedKeys = MAX_CACHED_KEYS,
    /** Where `makeKeys` writes: the key maker's thread (the default), or this thread (bench:ledger's reference). */
    options: { readonly writeKeysOn?: 'thread' | 'event-loop' } = {},
  ) {
    this.cache = new KeyCache(maxCachedKeys);
    this.db = openKeyFile(filename);
    this.maker = filename === ':memory:' || options.writeKeysOn === 'event-loop' ? undefined : new KeyMakerThread({ filename, wrappingKey: Uint8Array.from(wrappingKey) });
    this.select = this.db.prepare('SELECT wrapped FROM person_keys WHERE person_id = ?');
    this.erased = this.db.prepare('SELECT person_id FROM erased_persons WHERE person_id = ?');
    this.insert = this.db.prepare('INSERT OR IGNORE INTO person_keys (person_id, wrapped, created_at) VALUES (?, ?, ?)');
  }

  get erasureGeneration(): number {
    return this.cache.generation;
  }

  /** The person's key, made now if they have none; undefined when the person was erased. */
  keyFor(personId: string): Buffer | undefined {
    const found = this.lookup(personId);
    if (found.state === 'live') return found.key;
    if (found.state === 'destroyed') return undefined;
    // Another instance sharing the file may have made one meanwhile: INSERT OR IGNORE, then read whichever won.
    this.stats.keyWrites += 1;
    this.db.transaction(() => {
      if (this.erased.get(personId)) return;
      this.insert.run(personId, this.wrap(personId, randomBytes(KEY_BYTES)), Date.now());
    }).immediate();
    const made = this.lookup(personId);
    return made.state === 'live' ? made.key : undefined;
  }

  /** Write transactions that made keys, and keys read from the file and unwrapped (for tests and diagnostics). */
  readonly stats = { keyWrites: 0, unwraps: 0 };
  /** Keys being made in the next group write: the persons asked for this turn, and the write's outcome. */
  private making: { readonly ids: Set<string>; readonly done: Promise<void> } | undefined;

  makeKeys(personIds: readonly string[]): Promise<void> {
    // Persons whose key is in memory need nothing. The others go to the write, which skips those with a key in the
    // file (one that left the bounded cache is read back, not written again) and those erased.
    const missing = personIds.filter((id) => !this.cache.has(id));
    if (missing.length === 0) return Promise.resolve();
    if (!this.making) {
      const ids = new Set<string>();
      const done = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.making = undefined;
          this.makeAll([...ids]).then(resolve, reject);
        });
      });
      this.making = { ids, done };
    }
    for (const id of missing) this.making.ids.add(id);
    return this.making.done;
  }

  /**
   * One transaction (one fsync) for every person here without a key who was never erased, on the key maker's
   * thread; the keys made are then cached as made (not read back and unwrapped), and the others read.
   */
  private async makeAll(personIds: readonly string[]): Promise<void> {
    const generation = this.cache.generation;
    const made = this.maker ? await this.maker.make(personIds) : this.makeHere(personIds);
    if (made.length > 0) this.stats.keyWrites += 1;
    // An erasure meanwhile (a key dropped here since the write began): a key made for a person erased since is never cached.
    const erasedMeanwhile = this.cache.generation !== generation;
    for (const [personId, key] of made) {
      if (erasedMeanwhile && this.erased.get(personId)) key.fill(0);
      else this.cache.set(personId, key);
    }
    for (const personId of personIds) this.lookup(personId);
  }

  /** makeAll's write on this thread (an in-memory file, which no other thread can open; or when asked). */
  private makeHere(personIds: readonly string[]): Array<[string, Buffer]> {
    const made: Array<[string, Buffer]> = [];
    this.db.transaction(() => {
      for (const personId of personIds) {
        if (this.select.get(personId) || this.erased.get(personId)) continue;
        const key = randomBytes(KEY_BYTES);
        this.insert.run(personId, this.wrap(personId, Buffer.from(key)), Date.now());
        made.push([personId, key]);
      }
    }).immediate();
    return made;
  }

  /** The person's key as it stands, without making one. */
  lookup(personId: string): PersonKey {
    const cached = this.cache.get(personId);
    if (cached) return { state: 'live', key: cached };
    const row = this.select.get(personId);
    if (row) {
      const key = this.unwrap(personId, row.wrapped);
      this.stats.unwraps += 1;
      this.cache.set(personId, key);
      return { state: 'live', key };
    }
    return this.erased.get(personId) ? { state: 'destroyed' } : { state: 'none' };
  }

  /** Erase: the key is gone from the file, its WAL and this process. Idempotent; true when a key was destroyed now. */
  destroy(personId: string): boolean {
    this.cache.forget(personId);
    const deleted = this.db.transaction(() => {
      const { changes } = this.db.prepare('DELETE FROM person_keys WHERE person_id = ?').run(personId);
      this.db.prepare('INSERT OR IGNORE INTO erased_persons (person_id, erased_at) VALUES (?, ?)').run(personId, Date.now());
      return changes > 0;
    }).immediate();
    this.checkpoint();
    return deleted;
  }

  /** Copy the WAL into the file and truncate it to nothing; retried while a reader holds an old snapshot. */
  private checkpoint(): void {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (result?.busy === 0) return;
    }
    throw new Error('person-keys.sqlite: the WAL could not be truncated after an erasure');
  }

  /** Forget every unwrapped key held in memory (they are read again from the file when needed). */
  evictAll(): void {
    this.cache.clear();
  }

  /** Closes the file at once; the promise settles when the key maker's thread has stopped (a shutdown awaits it). */
  close(): Promise<void> {
    const stopped = this.maker?.close() ?? Promise.resolve();
    this.evictAll();
    this.db.close();
    return stopped;
  }

  private wrap(personId: string, key: Buffer): Buffer {
    return wrapPersonKey(this.wrappingKey, personId, key);
  }

  private unwrap(personId: string, wrapped: Buffer): Buffer {
    return unwrapPersonKey(this.wrappingKey, personId, wrapped);
  }
}

/** A person's data key sealed under the wrapping key (AES-256-GCM, the person's id as additional data); `key` is zeroed. */
export function wrapPersonKey(wrappingKey: Uint8Array, personId: string, key: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', wrappingKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(`person-key:${personId}`, 'utf8'));
  const wrapped = Buffer.concat([iv, cipher.update(key), cipher.final(), cipher.getAuthTag()]);
  key.fill(0);
  return wrapped;
}

/** The data key `wrapPersonKey` sealed; throws when it was sealed for another person or under another key. */
export function unwrapPersonKey(wrappingKey: Uint8Array, personId: string, wrapped: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', wrappingKey, wrapped.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(`person-key:${personId}`, 'utf8'));
  decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
  return Buffer.concat([decipher.update(wrapped.subarray(IV_BYTES, wrapped.length - TAG_BYTES)), decipher.final()]);
}
