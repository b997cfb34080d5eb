import { compilePredicate } from './filter-compiler.js';
import type {
  Collection,
  Document,
  Filter,
  FindOptions,
  IndexSpec,
  ReadModelStore,
  SortSpec,
} from '../../ports/read-models.js';

const getPath = (doc: unknown, path: string): unknown => {
  let value: unknown = doc;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
};

/** MongoDB's order for the values our documents hold: missing/null first, then numbers, strings, booleans. */
const typeRank = (v: unknown): number =>
  v === undefined || v === null ? 0 : typeof v === 'number' ? 1 : typeof v === 'string' ? 2 : typeof v === 'boolean' ? 4 : 3;

export const compareValues = (a: unknown, b: unknown): number => {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return 0;
};

const comparatorFor = (sort: SortSpec) => {
  const keys = Object.entries(sort);
  return (a: Document, b: Document): number => {
    for (const [path, direction] of keys) {
      const c = compareValues(getPath(a, path), getPath(b, path));
      if (c !== 0) return c * direction;
    }
    return 0;
  };
};

/** An equality index on one field path: value -> ids. */
class EqualityIndex {
  private readonly byValue = new Map<unknown, Set<string>>();
  constructor(
    readonly path: string,
    readonly unique: boolean,
  ) {}

  private keysOf(doc: Document): unknown[] {
    const value = getPath(doc, this.path);
    return Array.isArray(value) ? value : [value];
  }

  add(doc: Document): void {
    for (const key of this.keysOf(doc)) {
      let ids = this.byValue.get(key);
      if (!ids) this.byValue.set(key, (ids = new Set()));
      ids.add(doc._id);
    }
  }

  remove(doc: Document): void {
    for (const key of this.keysOf(doc)) {
      const ids = this.byValue.get(key);
      ids?.delete(doc._id);
      if (ids?.size === 0) this.byValue.delete(key);
    }
  }

  lookup(value: unknown): ReadonlySet<string> {
    return this.byValue.get(value) ?? new Set();
  }

  conflicts(doc: Document): boolean {
    if (!this.unique) return false;
    return this.keysOf(doc).some((key) => {
      if (key === undefined || key === null) return false;
      const ids = this.byValue.get(key);
      return ids !== undefined && [...ids].some((id) => id !== doc._id);
    });
  }
}

/**
 * Documents kept in the order of one field (then _id), maintained on every
 * write, so that a sorted page of a large collection is a walk, not a sort.
 */
class SortedIndex {
  private entries: Array<{ key: unknown; id: string }> = [];
  constructor(readonly path: string) {}

  private static compare(a: { key: unknown; id: string }, b: { key: unknown; id: string }): number {
    return compareValues(a.key, b.key) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  private locate(entry: { key: unknown; id: string }): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (SortedIndex.compare(this.entries[mid]!, entry) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  build(docs: Iterable<Document>): void {
    this.entries = [...docs].map((doc) => ({ key: getPath(doc, this.path), id: doc._id }));
    this.entries.sort(SortedIndex.compare);
  }

  add(doc: Document): void {
    const entry = { key: getPath(doc, this.path), id: doc._id };
    this.entries.splice(this.locate(entry), 0, entry);
  }

  remove(doc: Document): void {
    const entry = { key: getPath(doc, this.path), id: doc._id };
    const at = this.locate(entry);
    if (this.entries[at]?.id === doc._id) this.entries.splice(at, 1);
  }

  /** True when both documents sort to the same place (the index needs no change). */
  sameKey(a: Document, b: Document): boolean {
    return compareValues(getPath(a, this.path), getPath(b, this.path)) === 0;
  }

  *ids(direction: 1 | -1): Iterable<string> {
    if (direction === 1) for (let i = 0; i < this.entries.length; i++) yield this.entries[i]!.id;
    else for (let i = this.entries.length - 1; i >= 0; i--) yield this.entries[i]!.id;
  }
}

/** A sort on one field with _id as the tie-breaker, in the same direction: what a sorted index serves. */
const singleFieldSort = (sort: SortSpec | undefined): { path: string; direction: 1 | -1 } | undefined => {
  if (!sort) return undefined;
  const keys = Object.entries(sort);
  if (keys.length === 0 || keys.length > 2) return undefined;
  const [[path, direction]] = keys as [[string, 1 | -1]];
  if (path === '_id') return undefined;
  if (keys.length === 2 && (keys[1]![0] !== '_id' || keys[1]![1] !== direction)) return undefined;
  return { path, direction };
};

/** Below this many candidates, sorting them beats walking a sorted index of the whole collection. */
const SMALL_CANDIDATE_SET = 4096;

const isPlainValue = (v: unknown): boolean =>
  v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** The equality value a top-level filter clause pins a field to, if it does. */
const equalityValue = (filter: Filter, path: string): { found: boolean; value?: unknown } => {
  if (!(path in filter)) return { found: false };
  const clause = filter[path];
  if (isPlainValue(clause)) return { found: true, value: clause };
  if (clause && typeof clause === 'object' && !Array.isArray(clause)) {
    const ops = Object.keys(clause);
    if (ops.length === 1 && ops[0] === '$eq' && isPlainValue((clause as Record<string, unknown>).$eq)) {
      return { found: true, value: (clause as Record<string, unknown>).$eq };
    }
  }
  return { found: false };
};

class MemoryCollection<T extends Document> implements Collection<T> {
  private readonly documents = new Map<string, T>();
  private readonly indexes: EqualityIndex[] = [];
  /** Built the first time a list sorts by the field, then kept up to date. */
  private readonly sortedIndexes = new Map<string, SortedIndex>();

  addIndex(spec: IndexSpec): void {
    const path = spec.fields[0];
    if (!path || this.indexes.some((index) => index.path === path)) return;
    const index = new EqualityIndex(path, spec.unique ?? false);
    for (const doc of this.documents.values()) index.add(doc);
    this.indexes.push(index);
  }

  /** The smallest set of documents that can match, using the indexes when the filter pins an indexed field. */
  private candidates(filter: Filter): T[] | Map<string, T> {
    let best: ReadonlySet<string> | undefined;
    for (const index of this.indexes) {
      const eq = equalityValue(filter, index.path);
      if (!eq.found) continue;
      const ids = index.lookup(eq.value);
      if (!best || ids.size < best.size) best = ids;
    }
    if (filter._id !== undefined && isPlainValue(filter._id)) {
      const doc = this.documents.get(String(filter._id));
      return doc ? [doc] : [];
    }
    if (!best) return this.documents;
    const docs: T[] = [];
    for (const id of best) {
      const doc = this.documents.get(id);
      if (doc) docs.push(doc);
    }
    return docs;
  }

  private matching(filter: Filter): T[] {
    const candidates = this.candidates(filter);
    const docs = candidates instanceof Map ? [...candidates.values()] : candidates;
    if (Object.keys(filter).length === 0) return docs;
    const matches = compilePredicate(filter);
    return docs.filter((doc) => matches(doc));
  }

  private sortedIndex(path: string): SortedIndex {
    let index = this.sortedIndexes.get(path);
    if (!index) {
      index = new SortedIndex(path);
      index.build(this.documents.values());
      this.sortedIndexes.set(path, index);
    }
    return index;
  }

  /** Matches in sort order, walking a sorted index when the candidates are many. */
  private matchingSorted(filter: Filter, sort: SortSpec | undefined): T[] {
    const candidates = this.candidates(filter);
    const single = singleFieldSort(sort);
    const size = candidates instanceof Map ? candidates.size : candidates.length;
    if (single && size > SMALL_CANDIDATE_SET) {
      const matches = Object.keys(filter).length === 0 ? () => true : compilePredicate(filter);
      const result: T[] = [];
      for (const id of this.sortedIndex(single.path).ids(single.direction)) {
        const doc = this.documents.get(id)!;
        if (matches(doc)) result.push(doc);
      }
      return result;
    }
    const docs = this.matching(filter);
    if (sort && Object.keys(sort).length > 0) docs.sort(comparatorFor(sort));
    return docs;
  }

  async findById(id: string): Promise<T | undefined> {
    const doc = this.documents.get(id);
    return doc === undefined ? undefined : structuredClone(doc);
  }

  async findOne(filter: Filter): Promise<T | undefined> {
    const [doc] = await this.find(filter, { limit: 1 });
    return doc;
  }

  async find(filter: Filter, options: FindOptions = {}): Promise<T[]> {
    return (await this.findPage(filter, options)).items;
  }

  async findPage(filter: Filter, options: FindOptions = {}): Promise<{ items: T[]; total: number }> {
    const docs = this.matchingSorted(filter, options.sort);
    const skip = options.skip ?? 0;
    const end = options.limit === undefined ? undefined : skip + options.limit;
    return { items: docs.slice(skip, end).map((doc) => structuredClone(doc)), total: docs.length };
  }

  async count(filter: Filter): Promise<number> {
    return this.matching(filter).length;
  }

  async put(document: T): Promise<void> {
    const copy = structuredClone(document);
    const clash = this.indexes.find((index) => index.conflicts(copy));
    if (clash) throw new Error(`duplicate key on ${clash.path}`);
    const previous = this.documents.get(copy._id);
    if (previous) for (const index of this.indexes) index.remove(previous);
    this.documents.set(copy._id, copy);
    for (const index of this.indexes) index.add(copy);
    for (const sorted of this.sortedIndexes.values()) {
      if (previous && sorted.sameKey(previous, copy)) continue;
      if (previous) sorted.remove(previous);
      sorted.add(copy);
    }
  }

  async delete(id: string): Promise<void> {
    const previous = this.documents.get(id);
    if (!previous) return;
    for (const index of this.indexes) index.remove(previous);
    for (const sorted of this.sortedIndexes.values()) sorted.remove(previous);
    this.documents.delete(id);
  }

  clear(): void {
    this.documents.clear();
    this.sortedIndexes.clear();
    const specs = this.indexes.splice(0).map((index) => ({ fields: [index.path], unique: index.unique }));
    for (const spec of specs) this.addIndex(spec);
  }
}

/** The embedded read models: plain maps in memory, rebuilt from the log at every start. */
export class MemoryReadModelStore implements ReadModelStore {
  readonly ephemeral = true;
  private readonly collections = new Map<string, MemoryCollection<Document>>();
  private readonly checkpoints = new Map<string, string>();

  collection<T extends Document = Document>(name: string): Collection<T> {
    let collection = this.collections.get(name);
    if (!collection) this.collections.set(name, (collection = new MemoryCollection()));
    return collection as unknown as Collection<T>;
  }

  async ensureIndexes(name: string, indexes: readonly IndexSpec[]): Promise<void> {
    const collection = this.collection(name) as unknown as MemoryCollection<Document>;
    for (const spec of indexes) collection.addIndex(spec);
  }

  async clear(names: readonly string[]): Promise<void> {
    for (const name of names) this.collections.get(name)?.clear();
  }

  async getCheckpoint(projection: string): Promise<string | undefined> {
    return this.checkpoints.get(projection);
  }

  async setCheckpoint(projection: string, position: string | undefined): Promise<void> {
    if (position === undefined) this.checkpoints.delete(projection);
    else this.checkpoints.set(projection, position);
  }

  async close(): Promise<void> {}
}
