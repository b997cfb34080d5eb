import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import {
  type AnyBulkWriteOperation,
  type Collection as MongoCollection,
  type Db,
  type Filter as MongoFilter,
  MongoClient,
  MongoServerError,
} from 'mongodb';
import { parsePosition } from '../../ports/event-store.js';
import type {
  Collection,
  Document,
  Filter,
  FindOptions,
  IndexSpec,
  ReadModelStore,
  ReadModelVersion,
} from '../../ports/read-models.js';
import { isTransientStoreError } from '../../ports/transient-errors.js';
import { needleTrigrams, searchesIn, stringsAt, trigramsOf } from '../memory/text-search.js';

/** What MongoDB stores for a read-model document: our string `_id` instead of an ObjectId. */
interface StoredDocument {
  _id: string;
  _position?: string;
  [field: string]: unknown;
}

interface CheckpointDocument {
  _id: string;
  position: string;
}

/** The pointer to the live version: `{_id: 'current', version}`; no document means version 0. */
interface VersionDocument {
  _id: string;
  version: number;
  previous?: number;
}

const CHECKPOINTS = '_checkpoints';
export const VERSIONS = 'read_model_versions';
const CURRENT = 'current';
const DUPLICATE_KEY = 11000;

/**
 * The server's error codes that the retryable-writes specification lists as
 * retryable (a primary stepping down or unreachable, a network error on the
 * server side). Usually labelled RetryableWriteError by the server or driver;
 * a read's error may come without the label.
 */
const RETRYABLE_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150, 134]);

export interface MongoReadModelOptions {
  /** Attempts of one operation before its error is surfaced (as transient). */
  readonly attempts?: number;
  /** The pause before the first retry; it doubles before each next one. */
  readonly firstRetryPauseMs?: number;
  /** How often a running store re-reads which version is live. */
  readonly versionRefreshMs?: number;
}

const DEFAULTS: Required<MongoReadModelOptions> = { attempts: 4, firstRetryPauseMs: 50, versionRefreshMs: 5_000 };

// Filters may carry values that came from clients: never let the server run
// JavaScript (the in-memory adapter refuses the same operators).
const SCRIPT_OPERATORS = new Set(['$where', '$function', '$accumulator']);

const refuseScripts = (value: unknown): void => {
  if (Array.isArray(value)) {
    for (const item of value) refuseScripts(item);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (SCRIPT_OPERATORS.has(key)) throw new Error(`query operator ${key} is not allowed`);
      refuseScripts(inner);
    }
  }
};

const toMongoFilter = (filter: Filter): MongoFilter<StoredDocument> => {
  refuseScripts(filter);
  return filter as MongoFilter<StoredDocument>;
};

/**
 * Positions are "commit/prepare" of two unsigned 64-bit numbers. Stored with
 * both parts zero-padded to 20 digits, so that MongoDB's string order is the
 * log's order and a write can be made conditional on it. Read back in the
 * port's plain form.
 */
const DIGITS = 20;
const SORTABLE = /^\d{20}\/\d{20}$/;
export const sortablePosition = (position: string): string => {
  const { commit, prepare } = parsePosition(position);
  return `${commit.toString().padStart(DIGITS, '0')}/${prepare.toString().padStart(DIGITS, '0')}`;
};
const plainPosition = (stored: string): string => {
  const { commit, prepare } = parsePosition(stored);
  return `${commit}/${prepare}`;
};

/**
 * Free-text search (IndexSpec.search, docs/search.md): each document stores
 * the trigrams of its declared text fields in an array field named after
 * those fields, `_trigrams_<hash>`, under a multikey index. A search of three
 * characters or more adds `{<that field>: {$all: <the needle's trigrams>}}`
 * to the filter, which keeps its regex to confirm; a document written without
 * the field (before the declaration, or by an older instance, or for other
 * fields) is still tested by the regex alone, so the answers never change.
 */
const TRIGRAMS_PREFIX = '_trigrams_';

export interface TrigramField {
  /** The stored array's name. */
  readonly name: string;
  /** The declared text fields it covers. */
  readonly fields: readonly string[];
}

/** The trigram field of a collection's declared search indexes (one, over all their fields), if any. */
export function trigramField(indexes: readonly IndexSpec[]): TrigramField | undefined {
  const fields = [...new Set(indexes.flatMap((index) => index.search ?? []))].sort();
  if (fields.length === 0) return undefined;
  const hash = createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 12);
  return { name: `${TRIGRAMS_PREFIX}${hash}`, fields };
}

const toStored = (document: Document, trigrams?: TrigramField): StoredDocument => {
  const stored: StoredDocument = typeof document._position === 'string' ? { ...document, _position: sortablePosition(document._position) } : { ...document };
  if (trigrams) stored[trigrams.name] = trigramsOf(trigrams.fields.flatMap((field) => stringsAt(document, field)));
  return stored;
};

const fromStored = <T>(stored: StoredDocument | null | undefined): T | undefined => {
  if (!stored) return undefined;
  let doc = stored;
  if (Object.keys(doc).some((key) => key.startsWith(TRIGRAMS_PREFIX))) {
    doc = Object.fromEntries(Object.entries(doc).filter(([key]) => !key.startsWith(TRIGRAMS_PREFIX))) as StoredDocument;
  }
  if (typeof doc._position === 'string' && SORTABLE.test(doc._position)) return { ...doc, _position: plainPosition(doc._position) } as T;
  return doc as T;
};

/**
 * The filter with an index-served condition on the stored trigrams for its
 * most selective free-text search (the one with the most trigrams) that the
 * declared fields cover; the filter itself is unchanged otherwise.
 */
export function withTrigrams(filter: Filter, trigrams: TrigramField | undefined): Filter {
  if (!trigrams) return filter;
  let best: string[] = [];
  for (const search of searchesIn(filter)) {
    if (!search.fields.every((field) => trigrams.fields.includes(field))) continue;
    const grams = needleTrigrams(search.needle);
    if (grams.length > best.length) best = grams;
  }
  if (best.length === 0) return filter;
  const narrowing = { $or: [{ [trigrams.name]: { $all: best } }, { [trigrams.name]: { $exists: false } }] };
  const and = Array.isArray(filter.$and) ? (filter.$and as Filter[]) : filter.$and === undefined ? [] : undefined;
  return and ? { ...filter, $and: [...and, narrowing] } : { $and: [filter, narrowing] };
}

/**
 * Selects the document only where writing at `position` would not go back in
 * time: it has no position, an older one, or one written before positions were
 * stored sortably. Otherwise an upsert finds nothing, tries to insert, and
 * meets the `_id` index (a duplicate key on `_id`: a newer document exists).
 */
const olderThan = (id: string, position: string | undefined): MongoFilter<StoredDocument> =>
  position === undefined
    ? { _id: id }
    : {
        _id: id,
        $or: [{ _position: { $exists: false } }, { _position: { $lt: sortablePosition(position) } }, { _position: { $not: { $regex: '^\\d{20}/\\d{20}$' } } }],
      };

const keyPatternOf = (error: { keyPattern?: unknown; err?: { keyPattern?: unknown }; errmsg?: unknown; message?: unknown }): string[] => {
  const pattern = (error.keyPattern ?? error.err?.keyPattern) as Record<string, unknown> | undefined;
  if (pattern) return Object.keys(pattern);
  // Older servers name the index in the message only: "... index: _id_ dup key: ...".
  const message = String(error.errmsg ?? error.message ?? '');
  return /index: _id_ /.test(message) ? ['_id'] : [];
};

/** A conditional upsert that met a newer document: nothing to do. */
const isNewerDocument = (error: { code?: unknown }): boolean => {
  if (error.code !== DUPLICATE_KEY) return false;
  const keys = keyPatternOf(error as never);
  return keys.length === 1 && keys[0] === '_id';
};

/** Report a unique-index violation as the in-memory adapter does, without MongoDB's error type. */
const translateWriteError = (error: unknown): unknown => {
  const candidate = error as { code?: unknown } | null;
  if (candidate && candidate.code === DUPLICATE_KEY) {
    const keys = keyPatternOf(candidate as never);
    return new Error(`duplicate key on ${keys.join(', ') || 'a unique index'}`);
  }
  return error;
};

const isRetryable = (error: unknown): boolean =>
  isTransientStoreError(error) || (error instanceof MongoServerError && typeof error.code === 'number' && RETRYABLE_CODES.has(error.code));

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A write waiting in a batch: the newest for its document wins (a batch applies events in log order). */
type PendingWrite = { readonly kind: 'put'; readonly document: StoredDocument } | { readonly kind: 'delete'; readonly position?: string };

/** The writes of one batch, per physical collection and document. */
class WriteBatch {
  readonly writes = new Map<string, Map<string, PendingWrite>>();

  pending(collection: string, id: string): PendingWrite | undefined {
    return this.writes.get(collection)?.get(id);
  }

  add(collection: string, id: string, write: PendingWrite): void {
    let forCollection = this.writes.get(collection);
    if (!forCollection) this.writes.set(collection, (forCollection = new Map()));
    forCollection.delete(id); // keep insertion order = order of the last write
    forCollection.set(id, write);
  }

  get empty(): boolean {
    return this.writes.size === 0;
  }
}

class MongoReadModelCollection<T extends Document> implements Collection<T> {
  constructor(
    private readonly store: MongoReadModelStore,
    private readonly name: string,
  ) {}

  private get physical(): string {
    return this.store.physicalName(this.name);
  }

  private get collection(): MongoCollection<StoredDocument> {
    return this.store.db.collection<StoredDocument>(this.physical);
  }

  private get trigrams(): TrigramField | undefined {
    return trigramField(this.store.indexesOf(this.name));
  }

  private toMongoFilter(filter: Filter): MongoFilter<StoredDocument> {
    return toMongoFilter(withTrigrams(filter, this.trigrams));
  }

  /** Queries other than by id see the batch's writes only once they are written. */
  private async beforeQuery(): Promise<void> {
    const batch = this.store.currentBatch();
    if (batch && !batch.empty) await this.store.flush(batch);
  }

  async findById(id: string): Promise<T | undefined> {
    const pending = this.store.currentBatch()?.pending(this.physical, id);
    if (pending) return pending.kind === 'put' ? fromStored<T>(structuredClone(pending.document)) : undefined;
    return fromStored<T>(await this.store.retrying(() => this.collection.findOne({ _id: id })));
  }

  async findOne(filter: Filter): Promise<T | undefined> {
    await this.beforeQuery();
    return fromStored<T>(await this.store.retrying(() => this.collection.findOne(this.toMongoFilter(filter))));
  }

  async find(filter: Filter, options: FindOptions = {}): Promise<T[]> {
    // MongoDB reads limit 0 as "no limit"; the port means none.
    if (options.limit === 0) return [];
    await this.beforeQuery();
    const mongoFilter = this.toMongoFilter(filter);
    const docs = await this.store.retrying(() =>
      this.collection
        .find(mongoFilter, {
          ...(options.sort && Object.keys(options.sort).length > 0 ? { sort: options.sort } : {}),
          ...(options.skip ? { skip: options.skip } : {}),
          ...(options.limit === undefined ? {} : { limit: options.limit }),
        })
        .toArray(),
    );
    return docs.map((doc) => fromStored<T>(doc)!);
  }

  async count(filter: Filter): Promise<number> {
    await this.beforeQuery();
    const mongoFilter = this.toMongoFilter(filter);
    return this.store.retrying(() => this.collection.countDocuments(mongoFilter));
  }

  async findPage(filter: Filter, options: FindOptions): Promise<{ items: T[]; total: number }> {
    await this.beforeQuery();
    const [items, total] = await Promise.all([this.find(filter, options), this.count(filter)]);
    return { items, total };
  }

  async put(document: T): Promise<void> {
    const stored = toStored(document, this.trigrams);
    const batch = this.store.currentBatch();
    if (batch) {
      batch.add(this.physical, stored._id, { kind: 'put', document: stored });
      return;
    }
    // A duplicate `_id` means the document existed when the upsert looked: a newer one, or one inserted
    // at that moment by another instance, which may be older. Once more, then the condition has seen it.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.retrying(() => this.collection.replaceOne(olderThan(stored._id, document._position), stored, { upsert: true }));
        return;
      } catch (error) {
        if (!isNewerDocument(error as { code?: unknown })) throw translateWriteError(error);
        if (attempt >= 2) return;
      }
    }
  }

  async delete(id: string, position?: string): Promise<void> {
    const batch = this.store.currentBatch();
    if (batch) {
      batch.add(this.physical, id, { kind: 'delete', ...(position !== undefined && { position }) });
      return;
    }
    await this.store.retrying(() => this.collection.deleteOne(olderThan(id, position)));
  }
}

/**
 * The production read models in MongoDB. Each collection is a MongoDB
 * collection of our documents keyed by our string `_id`, queried with the
 * filters the port already speaks; projection checkpoints live beside them.
 *
 * - Writes are conditional on the event position (see `olderThan`), so
 *   instances that apply the same log at different speeds never go back in time.
 * - Inside `batch()` writes are buffered and written with one `bulkWrite` per collection.
 * - Every operation that fails with a retryable error (a dropped connection,
 *   a primary stepping down) is tried again with a doubling pause; after the
 *   last attempt the error is surfaced, recognised as transient (a 503).
 * - Versions: the live read models are version N, named `<name>_v<N>` (version
 *   0, the first, uses the bare names), checkpoints in `_checkpoints_v<N>`;
 *   `read_model_versions` says which N is live. A rebuild writes version N+1
 *   beside it and switches the pointer in one write.
 */
export class MongoReadModelStore implements ReadModelStore {
  readonly ephemeral = false;
  private readonly batches = new AsyncLocalStorage<WriteBatch>();
  private readonly options: Required<MongoReadModelOptions>;
  private refreshTimer?: NodeJS.Timeout;
  /** The logical collection names this store has used, and the indexes asked for each. */
  private readonly known = new Map<string, readonly IndexSpec[]>();

  constructor(
    private readonly mongo: Pick<MongoClient, 'close'>,
    readonly db: Db,
    options: MongoReadModelOptions & {
      /** The version this store reads and writes. */
      version?: number;
      /** Follow the live version (re-read every versionRefreshMs); false for a version being built. */
      follow?: boolean;
      /** Whether close() closes the client (not for a version store sharing it). */
      ownsClient?: boolean;
    } = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.version = options.version ?? 0;
    this.follow = options.follow ?? true;
    this.ownsClient = options.ownsClient ?? true;
  }

  /** The version read and written now. */
  version: number;
  private readonly follow: boolean;
  private readonly ownsClient: boolean;

  static async connect(url: string, databaseName = 'identity', options: MongoReadModelOptions = {}): Promise<MongoReadModelStore> {
    // ignoreUndefined: a field set to undefined is left out, as it would be
    // absent after JSON, rather than stored as null.
    const mongo = await MongoClient.connect(url, { ignoreUndefined: true });
    return MongoReadModelStore.open(mongo, mongo.db(databaseName), options);
  }

  /** A store over a connected client and database: reads which version is live and keeps following it. */
  static async open(mongo: Pick<MongoClient, 'close'>, db: Db, options: MongoReadModelOptions = {}): Promise<MongoReadModelStore> {
    const store = new MongoReadModelStore(mongo, db, options);
    store.version = await store.liveVersion();
    store.refreshTimer = setInterval(() => {
      // Not fatal: the pointer is read again at the next tick; never an unhandled rejection.
      store.liveVersion().then(
        (version) => (store.version = version),
        () => {},
      );
    }, store.options.versionRefreshMs);
    store.refreshTimer.unref();
    return store;
  }

  private async liveVersion(): Promise<number> {
    const pointer = await this.retrying(() => this.db.collection<VersionDocument>(VERSIONS).findOne({ _id: CURRENT }));
    return pointer?.version ?? 0;
  }

  /** The MongoDB collection that holds a read model in the version this store uses. */
  physicalName(name: string, version = this.version): string {
    return version === 0 ? name : `${name}_v${version}`;
  }

  private checkpointsName(version = this.version): string {
    return version === 0 ? CHECKPOINTS : `${CHECKPOINTS}_v${version}`;
  }

  /** Run one operation; retryable errors are tried again with a doubling pause, then surfaced as transient. */
  async retrying<R>(operation: () => Promise<R>): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await operation();
      } catch (error) {
        if (!isRetryable(error)) throw error;
        if (attempt >= this.options.attempts) {
          // A primary stepping down without the label is as transient as with it (the retryable-writes spec's code list).
          if (!isTransientStoreError(error)) (error as MongoServerError).addErrorLabel('RetryableWriteError');
          throw error;
        }
        await sleep(this.options.firstRetryPauseMs * 2 ** (attempt - 1));
      }
    }
  }

  currentBatch(): WriteBatch | undefined {
    return this.batches.getStore();
  }

  async batch<R>(fn: () => Promise<R>): Promise<R> {
    if (this.currentBatch()) return fn();
    const batch = new WriteBatch();
    const result = await this.batches.run(batch, fn);
    await this.flush(batch);
    return result;
  }

  /** Write a batch's pending writes: one unordered bulkWrite per collection, each write conditional on its position. */
  async flush(batch: WriteBatch): Promise<void> {
    const collections = [...batch.writes];
    batch.writes.clear();
    for (const [name, writes] of collections) {
      let operations: AnyBulkWriteOperation<StoredDocument>[] = [...writes].map(([id, write]) =>
        write.kind === 'put'
          ? { replaceOne: { filter: olderThan(id, write.document._position), replacement: write.document, upsert: true } }
          : { deleteOne: { filter: olderThan(id, write.position) } },
      );
      // As in put(): upserts that met an existing `_id` go once more, then they have seen it.
      for (let attempt = 1; operations.length > 0; attempt++) {
        try {
          await this.retrying(() => this.db.collection<StoredDocument>(name).bulkWrite(operations, { ordered: false }));
          break;
        } catch (error) {
          const writeErrors = (error as { writeErrors?: unknown }).writeErrors;
          const failures = (Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : undefined) as { code?: unknown; index?: unknown }[] | undefined;
          const real = failures?.filter((failure) => !isNewerDocument(failure));
          if (!failures || !real || real.length > 0) throw translateWriteError(real?.[0] ?? error);
          if (attempt >= 2) break;
          const again = new Set(failures.map((failure) => failure.index));
          operations = operations.filter((_, index) => again.has(index));
        }
      }
    }
  }

  /** The indexes asked for a collection (ensureIndexes). */
  indexesOf(name: string): readonly IndexSpec[] {
    return this.known.get(name) ?? [];
  }

  collection<T extends Document = Document>(name: string): Collection<T> {
    if (!this.known.has(name)) this.known.set(name, []);
    return new MongoReadModelCollection<T>(this, name);
  }

  async ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    this.known.set(collection, indexes);
    const target = this.db.collection(this.physicalName(collection));
    // A search index: its fields, then the stored trigrams (multikey).
    const trigrams = trigramField(indexes);
    const keyPaths = (index: IndexSpec) => (index.search?.length && trigrams ? [...index.fields, trigrams.name] : index.fields);
    for (const index of indexes) {
      // An index whose fields begin another's (non-unique) serves nothing that one does not.
      const paths = keyPaths(index);
      const covered = !index.unique && indexes.some((other) => other !== index && keyPaths(other).length > paths.length && paths.every((field, i) => keyPaths(other)[i] === field));
      if (covered) continue;
      const keys = Object.fromEntries(paths.map((field) => [field, 1 as const]));
      // createIndex is a no-op when the same index already exists.
      await this.retrying(() => target.createIndex(keys, index.unique ? { unique: true } : {}));
    }
  }

  /**
   * Drop every document of the collections: only for a collection that has no
   * checkpoint yet (nothing has been published from it). A rebuild of live
   * read models goes through `beginVersion` instead.
   */
  async clear(collections: readonly string[]): Promise<void> {
    // deleteMany, not drop: the indexes stay.
    for (const name of collections) {
      const target = this.db.collection(this.physicalName(name));
      await this.retrying(() => target.deleteMany({}));
    }
  }

  async getCheckpoint(projection: string): Promise<string | undefined> {
    const checkpoints = this.db.collection<CheckpointDocument>(this.checkpointsName());
    const doc = await this.retrying(() => checkpoints.findOne({ _id: projection }));
    return doc?.position;
  }

  async setCheckpoint(projection: string, position: string | undefined): Promise<void> {
    const checkpoints = this.db.collection<CheckpointDocument>(this.checkpointsName());
    if (position === undefined) await this.retrying(() => checkpoints.deleteOne({ _id: projection }));
    else await this.retrying(() => checkpoints.replaceOne({ _id: projection }, { position }, { upsert: true }));
  }

  /**
   * A new, empty version beside the live one (whatever an earlier, unfinished
   * rebuild left under its number is dropped first). The live version and its
   * checkpoints are not touched until `publish()`. One rebuild at a time.
   */
  async beginVersion(): Promise<ReadModelVersion> {
    const live = await this.liveVersion();
    const next = live + 1;
    const building = new MongoReadModelStore(this.mongo, this.db, { ...this.options, version: next, follow: false, ownsClient: false });
    await this.dropVersion(next);
    const dropVersion = (version: number) => this.dropVersion(version, building.known.keys());
    const self = this;
    return {
      store: building,
      switchDelayMs: this.options.versionRefreshMs,
      async publish() {
        // One document, one write: every instance reads the new version (collections and checkpoints) from its next refresh on.
        const filter = live === 0 ? { _id: CURRENT, $or: [{ version: 0 }, { version: { $exists: false } }] } : { _id: CURRENT, version: live };
        try {
          await self.retrying(() =>
            self.db.collection<VersionDocument>(VERSIONS).updateOne(filter as MongoFilter<VersionDocument>, { $set: { version: next, previous: live } }, { upsert: true }),
          );
        } catch (error) {
          if ((error as { code?: unknown }).code === DUPLICATE_KEY) throw new Error(`another rebuild switched the read models first (version ${live} is no longer live)`);
          throw error;
        }
        if (self.follow) self.version = next;
      },
      dropPrevious: () => dropVersion(live),
      discard: () => dropVersion(next),
    };
  }

  /** Drop a version's collections: those named, or every collection that carries its suffix. */
  private async dropVersion(version: number, names?: Iterable<string>): Promise<void> {
    let targets: string[];
    if (names) {
      targets = [...names].map((name) => this.physicalName(name, version));
    } else {
      if (version === 0) return; // the bare names cannot be told apart from other collections
      const all = await this.retrying(() => this.db.listCollections({}, { nameOnly: true }).toArray());
      targets = all.map((c) => c.name).filter((name) => name.endsWith(`_v${version}`) && name !== this.checkpointsName(version));
    }
    targets.push(this.checkpointsName(version));
    for (const name of targets) {
      try {
        await this.retrying(() => this.db.dropCollection(name));
      } catch (error) {
        // Dropping a collection that does not exist: MongoDB 7 says nothing, older servers "ns not found" (26).
        if ((error as { code?: unknown }).code !== 26) throw error;
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.refreshTimer);
    if (this.ownsClient) await this.mongo.close();
  }
}
