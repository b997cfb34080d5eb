import { AsyncLocalStorage } from 'node:async_hooks';
import type { Collection, Document, Filter, FindOptions, IndexSpec, ReadModelStore } from '../ports/read-models.js';

/**
 * The read models the query objects read: the live ones, except inside
 * `run(store, fn)`, where every read made in fn's async context goes to
 * `store` (a past state built by TimeTravel, or a resource's version while its
 * history is folded). Route handlers stay unchanged: the switch is entered
 * around them, after authentication and authorization, which read the live
 * store directly and so always judge by the present.
 */
export class ReadModelSwitch implements ReadModelStore {
  private readonly current = new AsyncLocalStorage<ReadModelStore>();

  constructor(private readonly live: ReadModelStore) {}

  get ephemeral(): boolean {
    return this.live.ephemeral;
  }

  /** Run fn with every read through this switch going to `store`. */
  run<R>(store: ReadModelStore, fn: () => Promise<R>): Promise<R> {
    return this.current.run(store, fn);
  }

  /** The store reads go to here and now. */
  get active(): ReadModelStore {
    return this.current.getStore() ?? this.live;
  }

  collection<T extends Document = Document>(name: string): Collection<T> {
    // Resolved per call, so a query object that keeps the collection still follows the switch.
    const pick = () => this.active.collection<T>(name);
    return {
      findById: (id: string) => pick().findById(id),
      findOne: (filter: Filter) => pick().findOne(filter),
      find: (filter: Filter, options?: FindOptions) => pick().find(filter, options),
      count: (filter: Filter) => pick().count(filter),
      findPage: (filter: Filter, options: FindOptions) => pick().findPage(filter, options),
      put: (document: T) => pick().put(document),
      delete: (id: string, position?: string) => pick().delete(id, position),
    };
  }

  ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    return this.active.ensureIndexes(collection, indexes);
  }

  clear(collections: readonly string[]): Promise<void> {
    return this.active.clear(collections);
  }

  getCheckpoint(projection: string): Promise<string | undefined> {
    return this.active.getCheckpoint(projection);
  }

  setCheckpoint(projection: string, position: string | undefined): Promise<void> {
    return this.active.setCheckpoint(projection, position);
  }

  /** The live store is closed by its owner. */
  async close(): Promise<void> {}
}
