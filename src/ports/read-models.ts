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
}

export interface Collection<T extends Document = Document> {
  findById(id: string): Promise<T | undefined>;
  findOne(filter: Filter): Promise<T | undefined>;
  find(filter: Filter, options?: FindOptions): Promise<T[]>;
  count(filter: Filter): Promise<number>;
  /** One page of the matches, with the number of matches before paging. */
  findPage(filter: Filter, options: FindOptions): Promise<{ items: T[]; total: number }>;
  /** Insert or replace the whole document. */
  put(document: T): Promise<void>;
  delete(id: string): Promise<void>;
}

export interface ReadModelStore {
  collection<T extends Document = Document>(name: string): Collection<T>;
  ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void>;
  /** Drop every document of the collections (for a rebuild from position zero). */
  clear(collections: readonly string[]): Promise<void>;
  getCheckpoint(projection: string): Promise<string | undefined>;
  setCheckpoint(projection: string, position: string | undefined): Promise<void>;
  /** True when the adapter keeps nothing across restarts, so projections always start from zero. */
  readonly ephemeral: boolean;
  close(): Promise<void>;
}
