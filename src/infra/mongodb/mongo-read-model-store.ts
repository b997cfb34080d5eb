import {
  type Collection as MongoCollection,
  type Db,
  type Filter as MongoFilter,
  MongoClient,
  MongoServerError,
} from 'mongodb';
import type {
  Collection,
  Document,
  Filter,
  FindOptions,
  IndexSpec,
  ReadModelStore,
} from '../../ports/read-models.js';

/** What MongoDB stores for a read-model document: our string `_id` instead of an ObjectId. */
interface StoredDocument {
  _id: string;
  [field: string]: unknown;
}

interface CheckpointDocument {
  _id: string;
  position: string;
}

const CHECKPOINTS = '_checkpoints';
const DUPLICATE_KEY = 11000;

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

/** Report a unique-index violation as the in-memory adapter does, without MongoDB's error type. */
const translateWriteError = (error: unknown): unknown => {
  if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) {
    const keys = Object.keys((error.keyPattern as Record<string, unknown> | undefined) ?? {});
    return new Error(`duplicate key on ${keys.join(', ') || 'a unique index'}`);
  }
  return error;
};

class MongoReadModelCollection<T extends Document> implements Collection<T> {
  constructor(private readonly collection: MongoCollection<StoredDocument>) {}

  async findById(id: string): Promise<T | undefined> {
    return ((await this.collection.findOne({ _id: id })) ?? undefined) as T | undefined;
  }

  async findOne(filter: Filter): Promise<T | undefined> {
    return ((await this.collection.findOne(toMongoFilter(filter))) ?? undefined) as T | undefined;
  }

  async find(filter: Filter, options: FindOptions = {}): Promise<T[]> {
    // MongoDB reads limit 0 as "no limit"; the port means none.
    if (options.limit === 0) return [];
    const cursor = this.collection.find(toMongoFilter(filter), {
      ...(options.sort && Object.keys(options.sort).length > 0 ? { sort: options.sort } : {}),
      ...(options.skip ? { skip: options.skip } : {}),
      ...(options.limit === undefined ? {} : { limit: options.limit }),
    });
    return (await cursor.toArray()) as T[];
  }

  async count(filter: Filter): Promise<number> {
    return this.collection.countDocuments(toMongoFilter(filter));
  }

  async findPage(filter: Filter, options: FindOptions): Promise<{ items: T[]; total: number }> {
    const [items, total] = await Promise.all([this.find(filter, options), this.count(filter)]);
    return { items, total };
  }

  async put(document: T): Promise<void> {
    try {
      await this.collection.replaceOne({ _id: document._id }, document, { upsert: true });
    } catch (error) {
      throw translateWriteError(error);
    }
  }

  async delete(id: string): Promise<void> {
    await this.collection.deleteOne({ _id: id });
  }
}

/**
 * The production read models: each collection is a MongoDB collection of the
 * same name, documents keyed by our string `_id`, queried with the filters the
 * port already speaks. Projection checkpoints live in `_checkpoints`.
 */
export class MongoReadModelStore implements ReadModelStore {
  readonly ephemeral = false;

  private constructor(
    private readonly mongo: MongoClient,
    private readonly db: Db,
  ) {}

  static async connect(url: string, databaseName = 'identity'): Promise<MongoReadModelStore> {
    // ignoreUndefined: a field set to undefined is left out, as it would be
    // absent after JSON, rather than stored as null.
    const mongo = await MongoClient.connect(url, { ignoreUndefined: true });
    return new MongoReadModelStore(mongo, mongo.db(databaseName));
  }

  collection<T extends Document = Document>(name: string): Collection<T> {
    return new MongoReadModelCollection<T>(this.db.collection<StoredDocument>(name));
  }

  async ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    for (const index of indexes) {
      const keys = Object.fromEntries(index.fields.map((field) => [field, 1 as const]));
      // createIndex is a no-op when the same index already exists.
      await this.db.collection(collection).createIndex(keys, index.unique ? { unique: true } : {});
    }
  }

  async clear(collections: readonly string[]): Promise<void> {
    // deleteMany, not drop: the indexes stay.
    for (const name of collections) await this.db.collection(name).deleteMany({});
  }

  async getCheckpoint(projection: string): Promise<string | undefined> {
    const doc = await this.db.collection<CheckpointDocument>(CHECKPOINTS).findOne({ _id: projection });
    return doc?.position;
  }

  async setCheckpoint(projection: string, position: string | undefined): Promise<void> {
    const checkpoints = this.db.collection<CheckpointDocument>(CHECKPOINTS);
    if (position === undefined) await checkpoints.deleteOne({ _id: projection });
    else await checkpoints.replaceOne({ _id: projection }, { position }, { upsert: true });
  }

  async close(): Promise<void> {
    await this.mongo.close();
  }
}
