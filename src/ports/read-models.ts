/**
 * The read-model port: collections of JSON documents queried with MongoDB
 * query documents, so that one query language serves both adapters (in memory
 * through mingo, and MongoDB itself). Contract: test/infra/read-models.contract.test.ts.
 */

export type Filter = Record<string, unknown>;
export type SortSpec = Record<string, 1 | -1>;

/** Every stored document has a string id and remembers the global position
 * (as "commit/prepare") of the last event applied to it, which makes projection
 * updates idempotent. */
export interface Document {
  _id: string;
  _position?: string;
  [field: string]: unknown;
}

export interface FindOptions {
  readonly sort?: SortSpec;
  readonly skip?: number;
  readonly limit?: number;
}

export interface IndexSpec {
  /** Field paths, in order. The in-memory adapter indexes the first field. */
  readonly fields: readonly string[];
  readonly unique?: boolean;
  /**
   * Text fields searched by case-insensitive substring (`search=`): keep an
   * index of their trigrams, with `fields` as its equality prefix (MongoDB: a
   * compound multikey index on `fields` and the stored trigrams). Answers are
   * the same with or without it. See docs/search.md.
   */
  readonly search?: readonly string[];
}

export interface Collection<T extends Document = Document> {
  findById(id: string): Promise<T | undefined>;
  findOne(filter: Filter): Promise<T | undefined>;
  find(filter: Filter, options?: FindOptions): Promise<T[]>;
  count(filter: Filter): Promise<number>;
  /** One page of the matches, with the number of matches before paging. */
  findPage(filter: Filter, options: FindOptions): Promise<{ items: T[]; total: number }>;
  /**
   * Insert or replace the whole document. Adapters shared by several
   * instances (MongoDB) write it only over an older `_position`, so a slower
   * instance never overwrites a newer document.
   */
  put(document: T): Promise<void>;
  /** Delete the document; with `position` ("commit/prepare"), only if it is older than that (as `put`). */
  delete(id: string, position?: string): Promise<void>;
}

/**
 * A new, empty version of every read model, built beside the live one (see
 * ReadModelStore.beginVersion): its collections and checkpoints are its own,
 * and the live version is left untouched until `publish()`.
 */
export interface ReadModelVersion {
  /** Reads and writes this version only. */
  readonly store: ReadModelStore;
  /** How long another instance may still read and write the previous version after `publish()`. */
  readonly switchDelayMs: number;
  /** Make this version the live one for every instance, atomically (collections and checkpoints together). */
  publish(): Promise<void>;
  /** After `publish()` and `switchDelayMs`: drop the version that was live before. */
  dropPrevious(): Promise<void>;
  /** Instead of publishing: drop this version. */
  discard(): Promise<void>;
}

export interface ReadModelStore {
  collection<T extends Document = Document>(name: string): Collection<T>;
  ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void>;
  /** Drop every document of the collections (for a rebuild from position zero). */
  clear(collections: readonly string[]): Promise<void>;
  getCheckpoint(projection: string): Promise<string | undefined>;
  setCheckpoint(projection: string, position: string | undefined): Promise<void>;
  /**
   * Optional: run `fn` with its writes buffered (in its async context only)
   * and written together when it resolves, one bulk write per collection;
   * reads by id inside `fn` see the buffered writes, and any other query
   * writes them out first. A nested call joins the outer batch. When `fn`
   * throws, its buffered writes are dropped. Adapters without it write at once.
   */
  batch?<R>(fn: () => Promise<R>): Promise<R>;
  /**
   * Optional, for adapters that persist (MongoDB): start a rebuild into a new,
   * empty version beside the live one instead of clearing the live collections.
   */
  beginVersion?(): Promise<ReadModelVersion>;
  /** True when the adapter keeps nothing across restarts, so projections always start from zero. */
  readonly ephemeral: boolean;
  close(): Promise<void>;
}
