/**
 * A stand-in for the `mongodb` driver at its API boundary, for the MongoDB
 * read-model adapter's tests (no MongoDB server runs here): a `Db` whose
 * collections have the methods the adapter calls (findOne, find().toArray,
 * countDocuments, replaceOne, updateOne, deleteOne, deleteMany, bulkWrite,
 * createIndex) plus listCollections and dropCollection. Documents live in
 * maps; filters are evaluated by mingo, MongoDB's query language in
 * JavaScript. What it copies of the server, as documented: an upsert whose
 * filter matches nothing inserts, and meets the `_id` index (E11000, keyPattern
 * {_id: 1}) when the id exists; unique indexes; unordered bulk writes go on
 * past a failed write and report every one in a MongoBulkWriteError.
 *
 * Faults are injected per method: `faults.fail('bulkWrite', 2, network)` makes
 * the next two calls throw the real driver's error classes.
 */
import { Query } from 'mingo';
import { MongoBulkWriteError, MongoNetworkError, MongoServerError } from 'mongodb';
import { compareValues } from '../../src/infra/memory/memory-read-models.js';

type Doc = Record<string, unknown> & { _id: string };
type Filter = Record<string, unknown>;

export interface Call {
  readonly collection: string;
  readonly method: string;
  readonly args: unknown[];
}

/** The driver's errors for a dropped connection and a primary stepping down. */
export const networkError = (): Error => {
  const error = new MongoNetworkError('connection 3 to 10.0.0.7:27017 closed');
  error.addErrorLabel('RetryableWriteError');
  return error;
};
export const notWritablePrimary = (): Error => new MongoServerError({ message: 'not primary', errmsg: 'not primary', code: 10107, codeName: 'NotWritablePrimary' });

const getPath = (doc: unknown, path: string): unknown => {
  let value: unknown = doc;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
};

const matches = (filter: Filter, doc: Doc): boolean => new Query(filter).test(doc);

/** The documents a filter may match: the one its `_id` names, when it names one. */
const candidates = (docs: Map<string, Doc>, filter: Filter): Doc[] => {
  if (typeof filter._id === 'string') {
    const doc = docs.get(filter._id);
    return doc ? [doc] : [];
  }
  return [...docs.values()];
};

const duplicateKey = (collection: string, keyPattern: Record<string, number>, doc: Doc) => {
  const index = Object.keys(keyPattern).map((k) => `${k}_1`).join('_');
  const name = index === '_id_1' ? '_id_' : index;
  return {
    code: 11000,
    keyPattern,
    keyValue: Object.fromEntries(Object.keys(keyPattern).map((k) => [k, getPath(doc, k)])),
    errmsg: `E11000 duplicate key error collection: identity.${collection} index: ${name} dup key: ${JSON.stringify(doc._id)}`,
  };
};

/** The shape of the driver's WriteError: the server's entry in `err`, with getters. */
class FakeWriteError {
  constructor(readonly err: { index: number; code: number; errmsg: string; keyPattern: Record<string, number> }) {}
  get code() {
    return this.err.code;
  }
  get index() {
    return this.err.index;
  }
  get errmsg() {
    return this.err.errmsg;
  }
}

export class Faults {
  private readonly queued = new Map<string, (() => Error)[]>();
  /** While set, every call of this method fails (until cleared). */
  readonly always = new Map<string, () => Error>();

  fail(method: string, times: number, error: () => Error): void {
    const list = this.queued.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(error);
    this.queued.set(method, list);
  }

  check(collection: string, method: string): void {
    const always = this.always.get(`${collection}.${method}`) ?? this.always.get(method);
    if (always) throw always();
    const next = this.queued.get(method)?.shift();
    if (next) throw next();
  }
}

export class FakeCollection {
  readonly docs = new Map<string, Doc>();
  readonly indexes: { keys: Record<string, unknown>; options: Record<string, unknown> }[] = [];

  constructor(
    private readonly db: FakeDb,
    readonly name: string,
  ) {}

  private enter(method: string, args: unknown[]): void {
    this.db.created.add(this.name);
    this.db.calls.push({ collection: this.name, method, args });
    this.db.faults.check(this.name, method);
  }

  private async later(): Promise<void> {
    // Every call goes through the event loop, as a round trip would.
    await new Promise((resolve) => setImmediate(resolve));
  }

  private checkUnique(doc: Doc): void {
    for (const index of this.indexes) {
      if (!index.options.unique) continue;
      const fields = Object.keys(index.keys);
      for (const other of this.docs.values()) {
        if (other._id !== doc._id && fields.every((f) => compareValues(getPath(other, f), getPath(doc, f)) === 0)) {
          throw new MongoServerError({ message: 'duplicate key', ...duplicateKey(this.name, index.keys as Record<string, number>, doc) });
        }
      }
    }
  }

  private store(doc: Doc): void {
    this.checkUnique(doc);
    this.docs.set(doc._id, structuredClone(doc));
  }

  /** replaceOne's semantics, without the round trip; throws the server's error entry. */
  private replace(filter: Filter, replacement: Doc, upsert: boolean): { matched: number; upserted: number } {
    const found = candidates(this.docs, filter).find((doc) => matches(filter, doc));
    if (found) {
      this.store({ ...replacement, _id: found._id });
      return { matched: 1, upserted: 0 };
    }
    if (!upsert) return { matched: 0, upserted: 0 };
    const id = (replacement._id ?? filter._id) as string;
    // Another client's insert of the same id, between this upsert's match and its insert.
    this.db.racingInsert?.(this, id);
    if (this.docs.has(id)) throw Object.assign(new Error('duplicate key'), duplicateKey(this.name, { _id: 1 }, { ...replacement, _id: id }));
    this.store({ ...replacement, _id: id });
    return { matched: 0, upserted: 1 };
  }

  private remove(filter: Filter, many: boolean): number {
    let deleted = 0;
    for (const doc of candidates(this.docs, filter)) {
      if (!matches(filter, doc)) continue;
      this.docs.delete(doc._id);
      deleted++;
      if (!many) break;
    }
    return deleted;
  }

  async findOne(filter: Filter): Promise<Doc | null> {
    this.enter('findOne', [filter]);
    await this.later();
    const found = candidates(this.docs, filter).find((doc) => matches(filter, doc));
    return found ? structuredClone(found) : null;
  }

  find(filter: Filter, options: { sort?: Record<string, 1 | -1>; skip?: number; limit?: number } = {}) {
    return {
      toArray: async (): Promise<Doc[]> => {
        this.enter('find', [filter, options]);
        await this.later();
        let docs = [...this.docs.values()].filter((doc) => matches(filter, doc));
        if (options.sort) {
          const entries = Object.entries(options.sort);
          docs.sort((a, b) => {
            for (const [path, dir] of entries) {
              const c = compareValues(getPath(a, path), getPath(b, path));
              if (c !== 0) return c * dir;
            }
            return 0;
          });
        }
        docs = docs.slice(options.skip ?? 0, options.limit === undefined ? undefined : (options.skip ?? 0) + options.limit);
        return docs.map((doc) => structuredClone(doc));
      },
    };
  }

  async countDocuments(filter: Filter): Promise<number> {
    this.enter('countDocuments', [filter]);
    await this.later();
    return [...this.docs.values()].filter((doc) => matches(filter, doc)).length;
  }

  async replaceOne(filter: Filter, replacement: Doc, options: { upsert?: boolean } = {}) {
    this.enter('replaceOne', [filter, replacement, options]);
    await this.later();
    try {
      const { matched, upserted } = this.replace(filter, replacement, options.upsert ?? false);
      return { acknowledged: true, matchedCount: matched, modifiedCount: matched, upsertedCount: upserted };
    } catch (error) {
      if (error instanceof MongoServerError) throw error;
      throw new MongoServerError({ message: 'E11000 duplicate key error', ...(error as object) } as never);
    }
  }

  async updateOne(filter: Filter, update: { $set: Record<string, unknown> }, options: { upsert?: boolean } = {}) {
    this.enter('updateOne', [filter, update, options]);
    await this.later();
    const found = candidates(this.docs, filter).find((doc) => matches(filter, doc));
    if (found) {
      this.store({ ...found, ...update.$set });
      return { matchedCount: 1 };
    }
    if (!options.upsert) return { matchedCount: 0 };
    const id = filter._id as string;
    if (this.docs.has(id)) throw new MongoServerError({ message: 'E11000 duplicate key error', ...duplicateKey(this.name, { _id: 1 }, { _id: id }) } as never);
    this.store({ _id: id, ...update.$set });
    return { matchedCount: 0, upsertedCount: 1 };
  }

  async deleteOne(filter: Filter) {
    this.enter('deleteOne', [filter]);
    await this.later();
    return { deletedCount: this.remove(filter, false) };
  }

  async deleteMany(filter: Filter) {
    this.enter('deleteMany', [filter]);
    await this.later();
    return { deletedCount: this.remove(filter, true) };
  }

  async bulkWrite(operations: Record<string, any>[], options: { ordered?: boolean } = {}) {
    this.enter('bulkWrite', [operations, options]);
    await this.later();
    const writeErrors: FakeWriteError[] = [];
    let upserted = 0;
    let matched = 0;
    let deleted = 0;
    for (const [index, operation] of operations.entries()) {
      try {
        if (operation.replaceOne) {
          const { filter, replacement, upsert } = operation.replaceOne;
          const result = this.replace(filter, replacement, upsert ?? false);
          upserted += result.upserted;
          matched += result.matched;
        } else if (operation.deleteOne) {
          deleted += this.remove(operation.deleteOne.filter, false);
        } else {
          throw new Error(`fake bulkWrite: unsupported operation ${Object.keys(operation).join()}`);
        }
      } catch (error) {
        const entry = error as { code?: number; errmsg?: string; keyPattern?: Record<string, number> };
        if (entry.code === undefined) throw error;
        writeErrors.push(new FakeWriteError({ index, code: entry.code, errmsg: entry.errmsg ?? '', keyPattern: entry.keyPattern ?? {} }));
        if (options.ordered !== false) break;
      }
    }
    const result = { insertedCount: 0, matchedCount: matched, modifiedCount: matched, deletedCount: deleted, upsertedCount: upserted };
    if (writeErrors.length > 0) {
      throw new MongoBulkWriteError({ message: writeErrors[0]!.errmsg, code: writeErrors[0]!.code, writeErrors } as never, result as never);
    }
    return result;
  }

  async createIndex(keys: Record<string, unknown>, options: Record<string, unknown> = {}) {
    this.enter('createIndex', [keys, options]);
    await this.later();
    if (!this.indexes.some((index) => JSON.stringify(index.keys) === JSON.stringify(keys))) this.indexes.push({ keys, options });
    return Object.keys(keys).join('_');
  }
}

export class FakeDb {
  readonly collections = new Map<string, FakeCollection>();
  /** Collections that have been written or asked for by a call (as MongoDB creates them on first use). */
  readonly created = new Set<string>();
  readonly calls: Call[] = [];
  readonly faults = new Faults();
  /** Called when an upsert matched nothing and is about to insert: a test may insert the same id first. */
  racingInsert?: (collection: FakeCollection, id: string) => void;

  collection(name: string): FakeCollection {
    let collection = this.collections.get(name);
    if (!collection) this.collections.set(name, (collection = new FakeCollection(this, name)));
    return collection;
  }

  listCollections() {
    return { toArray: async () => [...this.created].map((name) => ({ name })) };
  }

  async dropCollection(name: string): Promise<boolean> {
    this.calls.push({ collection: name, method: 'dropCollection', args: [] });
    this.collections.delete(name);
    return this.created.delete(name);
  }

  /** The calls of one method, optionally on one collection. */
  callsOf(method: string, collection?: string): Call[] {
    return this.calls.filter((call) => call.method === method && (collection === undefined || call.collection === collection));
  }
}

/** A client whose only use by the adapter is close(). */
export const fakeClient = () => ({ closed: false, async close() { this.closed = true; } });
