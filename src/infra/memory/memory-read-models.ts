import { hasBit, planMatches, type PlanContext } from './bitmap-plan.js';
import { compilePredicate } from '../../query/filter-predicate.js';
import { plainAt, TextColumn, UNSURE } from './text-column.js';
import { asciiLower, literalSearch, needleTrigrams, searchesIn, stringsAt, trigramsOf } from './text-search.js';
import type {
  Collection,
  Document,
  Filter,
  FindOptions,
  IndexSpec,
  ReadModelStore,
  SortSpec,
} from '../../ports/read-models.js';

const getPath = (doc: unknown, path: string): unknown => getAt(doc, path.split('.'));

/** getPath with the path already split (an index reads the same path of every document). */
const getAt = (doc: unknown, keys: readonly string[]): unknown => {
  let value: unknown = doc;
  for (const key of keys) {
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

/** Sort in place, reading each document's sort keys once rather than on every comparison. */
function sortBy<T extends Document>(docs: T[], sort: SortSpec): void {
  const fields = Object.entries(sort);
  const keyed = docs.map((doc) => ({ doc, keys: fields.map(([path]) => getPath(doc, path)) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < fields.length; i++) {
      const c = compareValues(a.keys[i], b.keys[i]);
      if (c !== 0) return c * fields[i]![1];
    }
    return 0;
  });
  keyed.forEach((entry, i) => (docs[i] = entry.doc));
}

/** An equality index on one field path: value -> ids. */
class EqualityIndex {
  /** value -> the id of the one document that has it (most values: an id, a subject), or the ids of several. */
  private readonly byValue = new Map<unknown, string | Set<string>>();
  private readonly keys: readonly string[];
  constructor(
    readonly path: string,
    readonly unique: boolean,
  ) {
    this.keys = path.split('.');
  }

  private keysOf(doc: Document): unknown[] {
    const value = getAt(doc, this.keys);
    return Array.isArray(value) ? value : [value];
  }

  add(doc: Document): void {
    const value = getAt(doc, this.keys);
    if (!Array.isArray(value)) return this.addKey(value, doc._id);
    for (const key of value) this.addKey(key, doc._id);
  }

  private addKey(key: unknown, id: string): void {
    const ids = this.byValue.get(key);
    if (ids === undefined) this.byValue.set(key, id);
    else if (typeof ids === 'string') {
      if (ids !== id) this.byValue.set(key, new Set([ids, id]));
    } else ids.add(id);
  }

  remove(doc: Document): void {
    for (const key of this.keysOf(doc)) {
      const ids = this.byValue.get(key);
      if (ids === undefined) continue;
      if (typeof ids === 'string') {
        if (ids === doc._id) this.byValue.delete(key);
        continue;
      }
      ids.delete(doc._id);
      if (ids.size === 0) this.byValue.delete(key);
    }
  }

  lookup(value: unknown): ReadonlySet<string> {
    const ids = this.byValue.get(value);
    return ids === undefined ? new Set() : typeof ids === 'string' ? new Set([ids]) : ids;
  }

  conflicts(doc: Document): boolean {
    if (!this.unique) return false;
    return this.keysOf(doc).some((key) => {
      if (key === undefined || key === null) return false;
      const ids = this.byValue.get(key);
      return ids !== undefined && (typeof ids === 'string' ? ids !== doc._id : [...ids].some((id) => id !== doc._id));
    });
  }
}

interface SortedEntry<T extends Document> {
  key: unknown;
  readonly id: string;
  /** The document's ordinal in its collection (bitmap-plan.ts). */
  readonly ord: number;
  doc: T;
  /** The document's text for the last set of searched fields, kept beside the entry (see literalSearch). */
  search?: { readonly fields: string; readonly text: string };
}

const compareEntries = (a: { key: unknown; id: string }, b: { key: unknown; id: string }): number =>
  compareValues(a.key, b.key) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The values a document has at a path: an array's elements (multikey, as MongoDB indexes arrays), else the value. */
const valuesAt = (doc: Document, path: string): unknown[] => {
  const value = getPath(doc, path);
  return Array.isArray(value) ? (value.length > 0 ? value : [undefined]) : [value];
};

/**
 * Documents kept in the order of one field (then _id), in one list per
 * combination of values of some equality-indexed fields (an organization, a
 * state...), maintained on every write. A sorted page of a large organization
 * is then a walk over that organization's list alone, and when the filter is
 * nothing but those equalities, a slice of it.
 */
class SortedIndex<T extends Document> {
  private readonly partitions = new Map<string, SortedEntry<T>[]>();
  /** Whether some document's sort path holds an array or runs through one: a bisection cannot answer a range then. */
  complex = false;
  /** Each partition's ordinals in its order (bitmap-plan.ts), made when asked for, dropped when the partition changes. */
  private readonly ordArrays = new Map<string, Int32Array>();

  constructor(
    readonly partitionPaths: readonly string[],
    readonly sortPath: string,
    private readonly ordOf: (id: string) => number,
  ) {}

  private check(doc: T): void {
    if (!this.complex && plainAt(doc, this.sortPath) === UNSURE) this.complex = true;
  }

  private partitionKeys(doc: Document): string[] {
    let keys: unknown[][] = [[]];
    for (const path of this.partitionPaths) keys = keys.flatMap((prefix) => valuesAt(doc, path).map((value) => [...prefix, value]));
    return keys.map((values) => JSON.stringify(values));
  }

  private static locate(entries: readonly { key: unknown; id: string }[], entry: { key: unknown; id: string }): number {
    let low = 0;
    let high = entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareEntries(entries[mid]!, entry) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  build(docs: Iterable<T>): void {
    this.partitions.clear();
    this.ordArrays.clear();
    for (const doc of docs) {
      this.check(doc);
      const ord = this.ordOf(doc._id);
      for (const partition of this.partitionKeys(doc)) {
        let list = this.partitions.get(partition);
        if (!list) this.partitions.set(partition, (list = []));
        list.push({ key: getPath(doc, this.sortPath), id: doc._id, ord, doc });
      }
    }
    for (const list of this.partitions.values()) list.sort(compareEntries);
  }

  add(doc: T): void {
    this.check(doc);
    const entry = { key: getPath(doc, this.sortPath), id: doc._id, ord: this.ordOf(doc._id) };
    for (const partition of this.partitionKeys(doc)) {
      this.ordArrays.delete(partition);
      let list = this.partitions.get(partition);
      if (!list) this.partitions.set(partition, (list = []));
      list.splice(SortedIndex.locate(list, entry), 0, { ...entry, doc });
    }
  }

  remove(doc: T): void {
    const entry = { key: getPath(doc, this.sortPath), id: doc._id };
    for (const partition of this.partitionKeys(doc)) {
      this.ordArrays.delete(partition);
      const list = this.partitions.get(partition);
      if (!list) continue;
      const at = SortedIndex.locate(list, entry);
      if (list[at]?.id === doc._id) list.splice(at, 1);
      if (list.length === 0) this.partitions.delete(partition);
    }
  }

  /** Apply a write: move the entry when the document's place changed, else just point it at the new document. */
  replace(previous: T, next: T): void {
    this.check(next);
    const samePlace =
      compareValues(getPath(previous, this.sortPath), getPath(next, this.sortPath)) === 0 &&
      JSON.stringify(this.partitionKeys(previous)) === JSON.stringify(this.partitionKeys(next));
    if (!samePlace) {
      this.remove(previous);
      this.add(next);
      return;
    }
    const entry = { key: getPath(next, this.sortPath), id: next._id };
    for (const partition of this.partitionKeys(next)) {
      const list = this.partitions.get(partition);
      const found = list?.[SortedIndex.locate(list, entry)];
      if (found?.id === next._id) {
        found.doc = next;
        found.search = undefined;
      }
    }
  }

  list(partitionValues: readonly unknown[]): readonly SortedEntry<T>[] {
    return this.partitions.get(JSON.stringify(partitionValues)) ?? [];
  }

  /** The ordinals of a partition's documents, in its order. */
  ords(partitionValues: readonly unknown[]): Int32Array {
    const key = JSON.stringify(partitionValues);
    let ords = this.ordArrays.get(key);
    if (!ords) {
      const list = this.partitions.get(key) ?? [];
      ords = new Int32Array(list.length);
      for (let i = 0; i < list.length; i++) ords[i] = list[i]!.ord;
      this.ordArrays.set(key, ords);
    }
    return ords;
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

/** Finding a page of known matches by walking the sorted partition beats sorting them while the walk is at most this many times their number. */
const WALK_OVER_SORT = 8;

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

/**
 * The equalities a filter pins indexed fields to, at its top level and in a
 * top-level $and, and what is left of the filter once they are taken out
 * (undefined when nothing is: every document of the pinned partition matches).
 */
function pinsOf(filter: Filter, indexedPaths: readonly string[]): { pins: Map<string, unknown>; residual?: Filter } {
  const pins = new Map<string, unknown>();
  const rest: Filter[] = [];
  const visit = (clause: Filter) => {
    for (const [key, condition] of Object.entries(clause)) {
      if (key === '$and' && Array.isArray(condition)) {
        for (const inner of condition as Filter[]) visit(inner);
        continue;
      }
      const eq = indexedPaths.includes(key) ? equalityValue(clause, key) : { found: false };
      if (eq.found && (!pins.has(key) || pins.get(key) === eq.value)) pins.set(key, eq.value);
      else rest.push({ [key]: condition });
    }
  };
  visit(filter);
  return { pins, residual: rest.length === 0 ? undefined : rest.length === 1 ? rest[0] : { $and: rest } };
}

const searchText = (doc: Document, fields: readonly string[]): string =>
  fields
    .flatMap((field) => valuesAt(doc, field).filter((value): value is string => typeof value === 'string'))
    .map(asciiLower)
    .join('\u0000');

const sortedIndexName = (partitionPaths: readonly string[], sortPath: string) => JSON.stringify([partitionPaths, sortPath]);

type Range = { lower?: { value: string | number; inclusive: boolean }; upper?: { value: string | number; inclusive: boolean } };

/** The bounds a filter puts on one field, when it is nothing but $gt/$gte/$lt/$lte clauses on that field. */
function rangeOn(filter: Filter, path: string): Range | undefined {
  const clauses = Object.keys(filter).length === 1 && Array.isArray(filter.$and) ? (filter.$and as Filter[]) : [filter];
  const range: Range = {};
  for (const clause of clauses) {
    const keys = Object.keys(clause);
    if (keys.length !== 1 || keys[0] !== path) return undefined;
    const condition = clause[path];
    if (condition === null || typeof condition !== 'object') return undefined;
    for (const [op, value] of Object.entries(condition)) {
      if (typeof value !== 'string' && typeof value !== 'number') return undefined;
      if (op === '$gt' || op === '$gte') {
        if (range.lower) return undefined;
        range.lower = { value, inclusive: op === '$gte' };
      } else if (op === '$lt' || op === '$lte') {
        if (range.upper) return undefined;
        range.upper = { value, inclusive: op === '$lte' };
      } else return undefined;
    }
  }
  return range.lower || range.upper ? range : undefined;
}

/** [from, to) of the entries whose key is within the range and of the bound's type (MongoDB compares within a type only). */
function bounds(list: readonly { key: unknown }[], range: Range): [number, number] {
  const firstWhere = (goesRight: (key: unknown) => boolean) => {
    let low = 0;
    let high = list.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (goesRight(list[mid]!.key)) low = mid + 1;
      else high = mid;
    }
    return low;
  };
  // Keys of other types sort before (rank < 0) or after (rank > 0) all keys of the bound's type.
  const bound = (range.lower ?? range.upper)!.value;
  const rank = (key: unknown) => typeRank(key) - typeRank(bound);
  const from = range.lower
    ? firstWhere((key) => rank(key) < 0 || (rank(key) === 0 && (range.lower!.inclusive ? compareValues(key, range.lower!.value) < 0 : compareValues(key, range.lower!.value) <= 0)))
    : firstWhere((key) => rank(key) < 0);
  const to = range.upper
    ? firstWhere((key) => rank(key) < 0 || (rank(key) === 0 && (range.upper!.inclusive ? compareValues(key, range.upper!.value) <= 0 : compareValues(key, range.upper!.value) < 0)))
    : firstWhere((key) => rank(key) <= 0);
  return [from, to];
}

/** A trigram's posting set is dropped once it holds more than this many documents and more than 1/SATURATION_FRACTION of its partition. */
const SATURATION_MIN = 256;
const SATURATION_FRACTION = 8;
/** The trigram index answers a search when its smallest posting set, times this, is below the number of documents a scan would test. */
const INDEX_OVER_SCAN = 4;
/** The planner keeps at most this many whole-filter answers and single-condition bitmaps between writes (12.5 KB each at 100,000 documents). */
const PLAN_CACHE_PLANS = 16;
const PLAN_CACHE_LEAVES = 64;
/** Writes after which the kept single-condition bitmaps are dropped rather than brought up to date one written document at a time. */
const PLAN_DIRTY_LOG = 4096;
/**
 * A partition with fewer documents than this keeps no trigrams, only its
 * entries: a scan of so few costs microseconds, while their posting sets
 * would be most of the index's memory and of the time to load a snapshot
 * (an organization of ten users has some 400 sets of one or two entries).
 * Its trigrams are built once it grows to this size, and kept.
 */
const GRAMS_FROM = 128;

/**
 * A document in a trigram index: its fields' text, lower-cased and joined by
 * NUL, kept until its text changes. The text is made when first needed: an
 * entry only in small partitions (no trigrams) may never need it.
 */
class TextEntry {
  private kept?: string;
  constructor(
    private current: Document,
    /** The document's ordinal (its slot in the planner's bitmaps, bitmap-plan.ts). */
    readonly ord: number,
    readonly partitions: readonly string[],
    private readonly textOf: (doc: Document) => string,
  ) {}

  get doc(): Document {
    return this.current;
  }

  get text(): string {
    return (this.kept ??= this.textOf(this.current));
  }

  /** Whether the text was made (then the entry may be in posting sets under it). */
  get hasText(): boolean {
    return this.kept !== undefined;
  }

  /** Point at a newer version of the document with the same text (or whose text was never made). */
  point(doc: Document): void {
    this.current = doc;
  }
}

interface TextPartition {
  size: number;
  /** trigram -> the entries that have it, or null once saturated; undefined while the partition is small (GRAMS_FROM). */
  grams?: Map<string, Set<TextEntry> | null>;
  /** The entries of a small partition (no trigrams yet). */
  members?: Set<TextEntry>;
  /** Each field's text column (text-column.ts), built the first time a query needs it, then kept up to date. */
  readonly columns: Map<string, TextColumn>;
}

/**
 * The trigrams of some text fields (text-search.ts), per combination of
 * values of the prefix fields (an organization), each with the documents that
 * have it, maintained on every write. A write whose text and prefix stay the
 * same only points the entry at the new document; another costs the trigrams
 * of the old and new text, whatever the collection's size. A search of at
 * least three characters looks up its own trigrams in the partition the
 * filter pins and tests the entries of the smallest set with a substring
 * test of their kept text; the filter itself still decides, so the answer is
 * the scan's. A trigram held by a large share of a partition (the domain of
 * every email, say) is saturated: its set is dropped for good and it narrows
 * nothing any more, which bounds the memory; a search made only of such
 * trigrams is a scan.
 */
class TrigramIndex {
  private readonly partitions = new Map<string, TextPartition>();
  private readonly entries = new Map<string, TextEntry>();

  constructor(
    readonly prefix: readonly string[],
    readonly fields: readonly string[],
  ) {}

  private readonly textOf = (doc: Document): string =>
    this.fields
      .flatMap((field) => stringsAt(doc, field))
      .map(asciiLower)
      .join('\u0000');

  private partitionKeys(doc: Document): string[] {
    // One prefix field with a single value (an organization): its key without the general case's arrays.
    if (this.prefix.length === 1) {
      const value = getPath(doc, this.prefix[0]!);
      if (!Array.isArray(value)) return [JSON.stringify([value])];
    }
    let keys: unknown[][] = [[]];
    for (const path of this.prefix) keys = keys.flatMap((prefix) => valuesAt(doc, path).map((value) => [...prefix, value]));
    return [...new Set(keys.map((values) => JSON.stringify(values)))];
  }

  add(doc: Document, ord: number): void {
    const entry = new TextEntry(doc, ord, this.partitionKeys(doc), this.textOf);
    this.entries.set(doc._id, entry);
    let grams: string[] | undefined;
    for (const key of entry.partitions) {
      let partition = this.partitions.get(key);
      if (!partition) this.partitions.set(key, (partition = { size: 0, members: new Set(), columns: new Map() }));
      partition.size++;
      for (const column of partition.columns.values()) column.set(ord, doc);
      if (partition.grams) {
        TrigramIndex.addGrams(partition.grams, partition.size, entry, (grams ??= trigramsOf([entry.text])));
        continue;
      }
      partition.members!.add(entry);
      if (partition.size < GRAMS_FROM) continue;
      // Large enough: its trigrams from now on.
      const built = new Map<string, Set<TextEntry> | null>();
      for (const member of partition.members!) TrigramIndex.addGrams(built, partition.size, member, trigramsOf([member.text]));
      partition.grams = built;
      partition.members = undefined;
    }
  }

  private static addGrams(grams: Map<string, Set<TextEntry> | null>, size: number, entry: TextEntry, of: readonly string[]): void {
    const cap = Math.max(SATURATION_MIN, size / SATURATION_FRACTION);
    for (const gram of of) {
      let set = grams.get(gram);
      if (set === null) continue;
      if (set === undefined) grams.set(gram, (set = new Set()));
      set.add(entry);
      if (set.size > cap) grams.set(gram, null);
    }
  }

  remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    let grams: string[] | undefined;
    for (const key of entry.partitions) {
      const partition = this.partitions.get(key);
      if (!partition) continue;
      partition.members?.delete(entry);
      for (const column of partition.columns.values()) column.remove(entry.ord);
      if (partition.grams) {
        for (const gram of (grams ??= trigramsOf([entry.text]))) {
          const set = partition.grams.get(gram);
          if (!set) continue;
          set.delete(entry);
          if (set.size === 0) partition.grams.delete(gram);
        }
      }
      if (--partition.size === 0) this.partitions.delete(key);
    }
  }

  replace(next: Document, ord: number): void {
    const entry = this.entries.get(next._id);
    // An entry whose text was never made is in no posting set: the new document's text is made when needed.
    if (entry && (!entry.hasText || entry.text === this.textOf(next))) {
      const keys = this.partitionKeys(next);
      if (keys.length === entry.partitions.length && keys.every((key, i) => key === entry.partitions[i])) {
        entry.point(next);
        // The lower-cased text is the same, the letter case may not be: the columns hold the text as it is.
        for (const key of keys) for (const column of this.partitions.get(key)?.columns.values() ?? []) column.set(ord, next);
        return;
      }
    }
    this.remove(next._id);
    this.add(next, ord);
  }

  /** The text column of one of the fields in a partition, built now if it is not yet. */
  column(partitionKey: string, field: string): TextColumn | undefined {
    if (!this.fields.includes(field)) return undefined;
    const partition = this.partitions.get(partitionKey);
    if (!partition) return undefined;
    let column = partition.columns.get(field);
    if (!column) {
      column = new TextColumn(field);
      for (const entry of this.entries.values()) if (entry.partitions.includes(partitionKey)) column.set(entry.ord, entry.doc);
      partition.columns.set(field, column);
    }
    return column;
  }

  /** The prefix values a filter pins, as a partition key; undefined when it does not pin them all. */
  partitionOf(filter: Filter): string | undefined {
    const values: unknown[] = [];
    for (const path of this.prefix) {
      const eq = equalityValue(filter, path);
      if (!eq.found) return undefined;
      values.push(eq.value);
    }
    return JSON.stringify(values);
  }

  /** Whether every document matching a search over these fields is among this index's candidates. */
  covers(fields: readonly string[]): boolean {
    return fields.every((field) => this.fields.includes(field));
  }

  /**
   * The smallest posting set of the needle's trigrams in a partition (empty:
   * no document there can contain it); undefined when they narrow nothing
   * (the needle is too short, all its trigrams are saturated, or the
   * partition is too small to keep trigrams: a scan of it is cheap).
   */
  lookup(partitionKey: string, needle: string): ReadonlySet<TextEntry> | undefined {
    const grams = needleTrigrams(needle);
    if (grams.length === 0) return undefined;
    const partition = this.partitions.get(partitionKey);
    if (!partition) return new Set();
    if (!partition.grams) return undefined;
    let smallest: Set<TextEntry> | undefined;
    for (const gram of grams) {
      const set = partition.grams.get(gram);
      if (set === undefined) return new Set();
      if (set !== null && (!smallest || set.size < smallest.size)) smallest = set;
    }
    return smallest;
  }

  clear(): void {
    this.partitions.clear();
    this.entries.clear();
  }
}

/** Switches shared by a store's collections. */
interface MemorySettings {
  /** Whether searches use the trigram indexes (they are maintained either way). */
  searchIndexes: boolean;
}

class MemoryCollection<T extends Document> implements Collection<T> {
  private readonly documents = new Map<string, T>();
  private readonly indexes: EqualityIndex[] = [];
  /** Built the first time a list needs one, then kept up to date on every write. */
  private readonly sortedIndexes = new Map<string, SortedIndex<T>>();
  /** Declared with `search` (IndexSpec): built at once, kept up to date on every write. */
  private readonly textIndexes: TrigramIndex[] = [];
  /** How many queries the trigram indexes answered (for tests and diagnostics). */
  textIndexUses = 0;
  /** How many pages the bitmap planner answered (bitmap-plan.ts; for tests and diagnostics). */
  bitmapPlanUses = 0;
  /** Counts every write: the planner's last answer is reused only while it has not changed. */
  private writes = 0;
  /**
   * The planner's answers since the last write (bitmap-plan.ts): the matches
   * of whole filters and of single conditions, per partition. Any write
   * (put, delete, restore, clear all count) drops them, so none is stale.
   */
  private planCache: {
    readonly writes: number;
    readonly plans: Map<string, { readonly bits: Uint32Array; readonly count: number; readonly trigrams: boolean }>;
    readonly universes: Map<string, Uint32Array>;
  } = { writes: -1, plans: new Map(), universes: new Map() };
  /**
   * Single conditions' bitmaps over a partition (bitmap-plan.ts), kept across
   * writes: each knows how far into `dirtyOrds` (the ordinals written since,
   * in order) it is up to date. Dropped with the log once it grows long.
   */
  private leafBitmaps = new Map<string, { readonly bits: Uint32Array; readonly trigrams: boolean; readonly dirtyAt: number }>();
  private dirtyOrds: number[] = [];
  private written(ord: number | undefined): void {
    if (ord === undefined || this.leafBitmaps.size === 0) return;
    if (this.dirtyOrds.length >= PLAN_DIRTY_LOG) {
      this.leafBitmaps = new Map();
      this.dirtyOrds = [];
      return;
    }
    this.dirtyOrds.push(ord);
  }
  /** Each document's ordinal (its slot in the planner's bitmaps), and the document of each. */
  private readonly ords = new Map<string, number>();
  private readonly byOrd: (T | undefined)[] = [];
  /** Ordinals of deleted documents, given again (every index has dropped them). */
  private readonly freeOrds: number[] = [];
  private readonly ordOf = (id: string): number => {
    let ord = this.ords.get(id);
    if (ord === undefined) {
      ord = this.freeOrds.pop() ?? this.byOrd.push(undefined) - 1;
      this.ords.set(id, ord);
    }
    return ord;
  };

  constructor(private readonly settings: MemorySettings = { searchIndexes: true }) {}

  addIndex(spec: IndexSpec): void {
    if (spec.search && spec.search.length > 0) this.addTextIndex(spec.fields, spec.search);
    const path = spec.fields[0];
    if (!path || this.indexes.some((index) => index.path === path)) return;
    const index = new EqualityIndex(path, spec.unique ?? false);
    for (const doc of this.documents.values()) index.add(doc);
    this.indexes.push(index);
  }

  private addTextIndex(prefix: readonly string[], fields: readonly string[]): void {
    const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
    if (this.textIndexes.some((index) => same(index.prefix, prefix) && same(index.fields, fields))) return;
    const index = new TrigramIndex([...prefix], [...fields]);
    for (const doc of this.documents.values()) index.add(doc, this.ordOf(doc._id));
    this.textIndexes.push(index);
  }

  /**
   * The documents that may match a filter holding a free-text search of at
   * least three characters, through a trigram index over its fields; undefined
   * when there is none or it would not beat the scan.
   */
  private textCandidates(filter: Filter): T[] | undefined {
    if (this.textIndexes.length === 0 || !this.settings.searchIndexes) return undefined;
    if (filter._id !== undefined && isPlainValue(filter._id)) return undefined;
    let best: { entries: ReadonlySet<TextEntry>; needle: string } | undefined;
    for (const search of searchesIn(filter)) {
      for (const index of this.textIndexes) {
        if (!index.covers(search.fields)) continue;
        const partition = index.partitionOf(filter);
        if (partition === undefined) continue;
        const entries = index.lookup(partition, search.needle);
        if (entries && (!best || entries.size < best.entries.size)) best = { entries, needle: search.needle };
      }
    }
    if (!best) return undefined;
    const scanned = this.narrowest(filter)?.size ?? this.documents.size;
    if (best.entries.size * INDEX_OVER_SCAN > scanned) return undefined;
    this.textIndexUses++;
    const docs: T[] = [];
    // The kept text holds every indexed field: containing the needle is necessary, and cheap to test.
    for (const entry of best.entries) if (entry.text.includes(best.needle)) docs.push(entry.doc as T);
    return docs;
  }

  /** The ids of the smallest indexed set the filter pins, if it pins one. */
  private narrowest(filter: Filter): ReadonlySet<string> | undefined {
    let best: ReadonlySet<string> | undefined;
    for (const index of this.indexes) {
      const eq = equalityValue(filter, index.path);
      if (!eq.found) continue;
      const ids = index.lookup(eq.value);
      if (!best || ids.size < best.size) best = ids;
    }
    return best;
  }

  /** The smallest set of documents that can match, using the indexes when the filter pins an indexed field. */
  private candidates(filter: Filter): T[] | Map<string, T> {
    const best = this.narrowest(filter);
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
    const candidates = this.textCandidates(filter) ?? this.candidates(filter);
    const docs = candidates instanceof Map ? [...candidates.values()] : candidates;
    if (Object.keys(filter).length === 0) return docs;
    const matches = compilePredicate(filter);
    return docs.filter((doc) => matches(doc));
  }

  private sortedIndex(partitionPaths: readonly string[], sortPath: string): SortedIndex<T> {
    const name = sortedIndexName(partitionPaths, sortPath);
    let index = this.sortedIndexes.get(name);
    if (!index) {
      index = new SortedIndex<T>(partitionPaths, sortPath, this.ordOf);
      index.build(this.documents.values());
      this.sortedIndexes.set(name, index);
    }
    return index;
  }

  /**
   * A page of a large candidate set through a sorted index: walk the pinned
   * partition in order, count the matches, keep only the page. Undefined when
   * the query does not suit one (the candidates are few, or the sort is not on one field).
   */
  private pageFromSortedIndex(filter: Filter, options: FindOptions): { items: T[]; total: number } | undefined {
    const single = singleFieldSort(options.sort);
    if (!single) return undefined;
    if (filter._id !== undefined) return undefined;
    const { pins, residual } = pinsOf(filter, this.indexes.map((index) => index.path));
    const paths = [...pins.keys()].sort();
    // An index that exists serves every partition, small ones too; one is built only for a large candidate set.
    const exists = this.sortedIndexes.has(sortedIndexName(paths, single.path));
    if (!exists && (this.narrowest(filter)?.size ?? this.documents.size) <= SMALL_CANDIDATE_SET) return undefined;
    const list = this.sortedIndex(paths, single.path).list(paths.map((path) => pins.get(path)));
    const skip = options.skip ?? 0;
    const end = options.limit === undefined ? Number.POSITIVE_INFINITY : skip + options.limit;
    const at = (i: number) => list[single.direction === 1 ? i : list.length - 1 - i]!;
    const items: T[] = [];
    if (!residual) {
      for (let i = skip; i < Math.min(end, list.length); i++) items.push(at(i).doc);
      return { items, total: list.length };
    }
    // A range on the sort field itself is a stretch of the partition: find its ends by bisection.
    const range = rangeOn(residual, single.path);
    if (range) {
      const [from, to] = bounds(list, range);
      const total = Math.max(0, to - from);
      for (let i = skip; i < Math.min(end, total); i++) items.push(list[single.direction === 1 ? from + i : to - 1 - i]!.doc);
      return { items, total };
    }
    // Otherwise the partition already satisfies the pinned equalities: test only the rest.
    const search = literalSearch(residual);
    if (search) {
      const fields = search.fields.join('\u0001');
      let total = 0;
      for (let i = 0; i < list.length; i++) {
        const entry = at(i);
        if (entry.search?.fields !== fields) entry.search = { fields, text: searchText(entry.doc, search.fields) };
        if (!entry.search.text.includes(search.needle)) continue;
        if (total >= skip && total < end) items.push(entry.doc);
        total++;
      }
      return { items, total };
    }
    const matches = compilePredicate(residual);
    let total = 0;
    for (let i = 0; i < list.length; i++) {
      const { doc } = at(i);
      if (!matches(doc)) continue;
      if (total >= skip && total < end) items.push(doc);
      total++;
    }
    return { items, total };
  }

  /**
   * A page of known matches, in sort order without sorting them: walk the
   * sorted index's partition from the start and keep the entries that are
   * matches, until the page is full. Worth it when the walk is short beside a
   * sort of the matches (a first page); undefined otherwise.
   */
  private pageInSortOrder(filter: Filter, matches: readonly T[], options: FindOptions): T[] | undefined {
    const single = singleFieldSort(options.sort);
    if (!single || matches.length === 0) return undefined;
    const { pins } = pinsOf(filter, this.indexes.map((index) => index.path));
    const paths = [...pins.keys()].sort();
    if (!this.sortedIndexes.has(sortedIndexName(paths, single.path)) && matches.length <= SMALL_CANDIDATE_SET) return undefined;
    const list = this.sortedIndex(paths, single.path).list(paths.map((path) => pins.get(path)));
    const skip = options.skip ?? 0;
    const wanted = Math.min(matches.length, options.limit === undefined ? matches.length : skip + options.limit);
    // The matches are spread over the partition: the walk reaches the page's end after about this many entries.
    const walk = (wanted * list.length) / matches.length;
    if (walk > matches.length * WALK_OVER_SORT) return undefined;
    const wantedSet = new Set<Document>(matches);
    const items: T[] = [];
    let seen = 0;
    for (let i = 0; i < list.length && seen < wanted; i++) {
      const { doc } = list[single.direction === 1 ? i : list.length - 1 - i]!;
      if (!wantedSet.has(doc)) continue;
      if (seen >= skip) items.push(doc);
      seen++;
    }
    // Every match is in the partition; if one was not found, sort instead.
    return seen === wanted ? items : undefined;
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

  /**
   * A page of a large pinned partition whose filter has conditions the
   * indexes answer (substrings through the text columns, ranges through
   * sorted lists), through the bitmap planner (bitmap-plan.ts): the matches
   * as a bitmap, the total as its count, the page as a walk of the sorted
   * partition. Undefined when the query does not suit it.
   */
  private pageFromBitmaps(filter: Filter, options: FindOptions): { items: T[]; total: number } | undefined {
    if (!this.settings.searchIndexes) return undefined;
    const single = singleFieldSort(options.sort);
    if (!single || filter._id !== undefined) return undefined;
    const { pins, residual: whole } = pinsOf(filter, this.indexes.map((index) => index.path));
    // Nothing left, or a range on the sort field: a slice of the sorted partition (pageFromSortedIndex).
    if (!whole || rangeOn(whole, single.path)) return undefined;
    // Ranges on the sort field at the top (a cursor's position) bound the walk; the planner answers the rest.
    const clauses = Object.keys(whole).length === 1 && Array.isArray(whole.$and) ? (whole.$and as Filter[]) : [whole];
    const walkRanges = clauses.filter((clause) => rangeOn(clause, single.path) !== undefined);
    const rest = clauses.filter((clause) => rangeOn(clause, single.path) === undefined);
    const walkRange = walkRanges.length === 0 ? undefined : rangeOn(walkRanges.length === 1 ? walkRanges[0]! : { $and: walkRanges }, single.path);
    if (walkRanges.length > 0 && !walkRange) return undefined;
    const residual = rest.length === 1 ? rest[0]! : { $and: rest };
    const paths = [...pins.keys()].sort();
    const values = paths.map((path) => pins.get(path));
    const large = (this.narrowest(filter)?.size ?? this.documents.size) > SMALL_CANDIDATE_SET;
    if (!large && !this.sortedIndexes.has(sortedIndexName(paths, single.path))) return undefined;
    const sorted = this.sortedIndex(paths, single.path);
    const list = sorted.list(values);
    const ords = sorted.ords(values);
    let usedTrigrams = false;
    const context: PlanContext = {
      size: this.byOrd.length,
      textColumn: (path) => {
        for (const index of this.textIndexes) {
          const key = index.partitionOf(filter);
          const column = key === undefined ? undefined : index.column(key, path);
          if (column) return column;
        }
        return undefined;
      },
      textCandidates: (path, needle) => {
        for (const index of this.textIndexes) {
          const key = index.partitionOf(filter);
          if (key === undefined || !index.covers([path])) continue;
          const entries = index.lookup(key, asciiLower(needle));
          if (entries && entries.size * INDEX_OVER_SCAN <= ords.length) {
            usedTrigrams = true;
            return entries;
          }
        }
        return undefined;
      },
      searchCandidates: (searched, needle) => {
        for (const index of this.textIndexes) {
          const key = index.partitionOf(filter);
          // The kept text holds the index's fields only: every one of them must be searched.
          if (key === undefined || !index.fields.every((field) => searched.includes(field)) || !index.covers(searched)) continue;
          const entries = index.lookup(key, asciiLower(needle));
          if (entries && entries.size * INDEX_OVER_SCAN <= ords.length) {
            usedTrigrams = true;
            return entries;
          }
        }
        return undefined;
      },
      range: (path, range) => {
        if (path !== single.path && !large && !this.sortedIndexes.has(sortedIndexName(paths, path))) return undefined;
        const sorted = this.sortedIndex(paths, path);
        if (sorted.complex) return undefined;
        const [from, to] = bounds(sorted.list(values), range);
        return sorted.ords(values).subarray(from, Math.max(from, to));
      },
      docAt: (ord) => this.byOrd[ord],
    };
    // Answers kept while nothing is written (any write drops them all): the
    // matches of whole filters, and of single conditions over the partition.
    // A single condition's bitmap outlives writes: the ordinals written since
    // are tested again (`test`, the condition on one document) on a copy.
    if (this.planCache.writes !== this.writes) this.planCache = { writes: this.writes, plans: new Map(), universes: new Map() };
    const cache = this.planCache;
    const scope = JSON.stringify([paths, values, single.path]);
    const words = (this.byOrd.length + 31) >>> 5;
    context.memo = (leaf, compute, test) => {
      const leafKey = `${scope}\u0000${leaf}`;
      if (!test) {
        let bits = cache.universes.get(leafKey);
        if (!bits) cache.universes.set(leafKey, (bits = compute()));
        return bits;
      }
      const kept = this.leafBitmaps.get(leafKey);
      if (kept) {
        usedTrigrams ||= kept.trigrams;
        if (kept.dirtyAt === this.dirtyOrds.length && kept.bits.length === words) return kept.bits;
        const bits = new Uint32Array(words);
        bits.set(kept.bits);
        for (let i = kept.dirtyAt; i < this.dirtyOrds.length; i++) {
          const ord = this.dirtyOrds[i]!;
          if (test(ord)) bits[ord >>> 5]! |= 1 << (ord & 31);
          else bits[ord >>> 5]! &= ~(1 << (ord & 31));
        }
        this.leafBitmaps.set(leafKey, { bits, trigrams: kept.trigrams, dirtyAt: this.dirtyOrds.length });
        return bits;
      }
      const before = usedTrigrams;
      usedTrigrams = false;
      const bits = compute();
      if (this.leafBitmaps.size >= PLAN_CACHE_LEAVES) this.leafBitmaps.clear();
      this.leafBitmaps.set(leafKey, { bits, trigrams: usedTrigrams, dirtyAt: this.dirtyOrds.length });
      usedTrigrams ||= before;
      return bits;
    };
    const key = `${scope}\u0000${JSON.stringify(residual)}`;
    let bits: Uint32Array;
    let count: number;
    const kept = cache.plans.get(key);
    if (kept) {
      ({ bits, count } = kept);
      usedTrigrams = kept.trigrams;
    } else {
      const planned = planMatches(residual, ords, context);
      if (!planned) return undefined;
      ({ bits, count } = planned);
      if (cache.plans.size >= PLAN_CACHE_PLANS) cache.plans.clear();
      cache.plans.set(key, { bits, count, trigrams: usedTrigrams });
    }
    this.bitmapPlanUses++;
    if (usedTrigrams) this.textIndexUses++;
    const skip = options.skip ?? 0;
    const end = options.limit === undefined ? Number.POSITIVE_INFINITY : skip + options.limit;
    const items: T[] = [];
    if (!walkRange) {
      // The whole partition: the total is the count of bits, the walk stops once it has the page.
      let seen = 0;
      for (let i = 0; i < ords.length && seen < end; i++) {
        const at = single.direction === 1 ? i : ords.length - 1 - i;
        if (!hasBit(bits, ords[at]!)) continue;
        if (seen >= skip) items.push(list[at]!.doc);
        seen++;
      }
      return { items, total: count };
    }
    // The stretch of the partition a cursor's range covers. Its matches are
    // counted over the range, or as the count less the matches outside it
    // when that is the shorter walk (the first pages of a cursor walk).
    const [from, to] = bounds(list, walkRange);
    const length = Math.max(0, to - from);
    const countInside = length * 2 <= ords.length;
    let total = 0;
    for (let i = 0; i < length && (countInside || total < end); i++) {
      const at = single.direction === 1 ? from + i : to - 1 - i;
      if (!hasBit(bits, ords[at]!)) continue;
      if (total >= skip && total < end) items.push(list[at]!.doc);
      total++;
    }
    if (!countInside) {
      let outside = 0;
      for (let at = 0; at < Math.min(from, ords.length); at++) outside += hasBit(bits, ords[at]!) ? 1 : 0;
      for (let at = Math.max(to, from); at < ords.length; at++) outside += hasBit(bits, ords[at]!) ? 1 : 0;
      total = count - outside;
    }
    return { items, total };
  }

  async findPage(filter: Filter, options: FindOptions = {}): Promise<{ items: T[]; total: number }> {
    const planned = this.pageFromBitmaps(filter, options);
    if (planned) return { items: planned.items.map((doc) => structuredClone(doc)), total: planned.total };
    // A selective search first: its few candidates are sorted, rather than a partition walked in order.
    const searched = this.textCandidates(filter);
    const indexed = searched ? undefined : this.pageFromSortedIndex(filter, options);
    if (indexed) return { items: indexed.items.map((doc) => structuredClone(doc)), total: indexed.total };
    const docs = searched ? searched.filter(compilePredicate(filter)) : this.matching(filter);
    const inOrder = searched ? this.pageInSortOrder(filter, docs, options) : undefined;
    if (inOrder) return { items: inOrder.map((doc) => structuredClone(doc)), total: docs.length };
    if (options.sort && Object.keys(options.sort).length > 0) sortBy(docs, options.sort);
    const skip = options.skip ?? 0;
    const end = options.limit === undefined ? undefined : skip + options.limit;
    return { items: docs.slice(skip, end).map((doc) => structuredClone(doc)), total: docs.length };
  }

  async count(filter: Filter): Promise<number> {
    return this.matching(filter).length;
  }

  async put(document: T): Promise<void> {
    this.writes++;
    const copy = structuredClone(document);
    const clash = this.indexes.find((index) => index.conflicts(copy));
    if (clash) throw new Error(`duplicate key on ${clash.path}`);
    const previous = this.documents.get(copy._id);
    if (previous) for (const index of this.indexes) index.remove(previous);
    this.documents.set(copy._id, copy);
    const ord = this.ordOf(copy._id);
    this.byOrd[ord] = copy;
    this.written(ord);
    for (const index of this.indexes) index.add(copy);
    for (const text of this.textIndexes) {
      if (previous) text.replace(copy, ord);
      else text.add(copy, ord);
    }
    for (const sorted of this.sortedIndexes.values()) {
      if (previous) sorted.replace(previous, copy);
      else sorted.add(copy);
    }
  }

  async delete(id: string): Promise<void> {
    this.writes++;
    const previous = this.documents.get(id);
    if (!previous) return;
    for (const index of this.indexes) index.remove(previous);
    for (const sorted of this.sortedIndexes.values()) sorted.remove(previous);
    for (const text of this.textIndexes) text.remove(id);
    this.documents.delete(id);
    const ord = this.ords.get(id);
    this.written(ord);
    if (ord !== undefined) {
      this.byOrd[ord] = undefined;
      this.freeOrds.push(ord);
    }
    this.ords.delete(id);
  }

  /**
   * Every document, as stored. Documents are never changed in place (a write
   * stores a new copy, reads hand out copies), so these references stay a
   * consistent cut while later events replace them: a snapshot can serialize
   * them at its own pace.
   */
  documentsNow(): T[] {
    return [...this.documents.values()];
  }

  /** Add a document read back from a snapshot: it is fresh (parsed JSON), so it is stored without a copy. */
  restore(doc: T): void {
    this.writes++;
    const previous = this.documents.get(doc._id);
    if (previous) for (const index of this.indexes) index.remove(previous);
    this.documents.set(doc._id, doc);
    const ord = this.ordOf(doc._id);
    this.byOrd[ord] = doc;
    this.written(ord);
    for (const index of this.indexes) index.add(doc);
    for (const text of this.textIndexes) {
      if (previous) text.replace(doc, ord);
      else text.add(doc, ord);
    }
    // Sorted indexes are built again the first time a list needs one. (Only when there are some: Map.clear
    // allocates a new table even for an empty map, garbage for every document a snapshot load puts back.)
    if (this.sortedIndexes.size > 0) this.sortedIndexes.clear();
  }

  clear(): void {
    this.writes++;
    this.leafBitmaps = new Map();
    this.dirtyOrds = [];
    this.documents.clear();
    this.ords.clear();
    this.byOrd.length = 0;
    this.freeOrds.length = 0;
    this.sortedIndexes.clear();
    for (const text of this.textIndexes) text.clear();
    const specs = this.indexes.splice(0).map((index) => ({ fields: [index.path], unique: index.unique }));
    for (const spec of specs) this.addIndex(spec);
  }
}

/** The embedded read models: plain maps in memory, rebuilt from the log at every start. */
export class MemoryReadModelStore implements ReadModelStore {
  readonly ephemeral = true;
  private readonly collections = new Map<string, MemoryCollection<Document>>();
  private readonly checkpoints = new Map<string, string>();
  private readonly settings: MemorySettings = { searchIndexes: true };

  /**
   * Whether free-text searches use the trigram indexes declared with
   * `search` (on by default). They are maintained either way; turning them
   * off measures the scan they replace (npm run bench:queries).
   */
  get searchIndexes(): boolean {
    return this.settings.searchIndexes;
  }

  set searchIndexes(enabled: boolean) {
    this.settings.searchIndexes = enabled;
  }

  collection<T extends Document = Document>(name: string): Collection<T> {
    let collection = this.collections.get(name);
    if (!collection) this.collections.set(name, (collection = new MemoryCollection(this.settings)));
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

  /** The documents of some collections as they are now (see MemoryCollection.documentsNow): call between two events. */
  documentsNow(names: readonly string[]): Map<string, Document[]> {
    return new Map(names.map((name) => [name, (this.collection(name) as unknown as MemoryCollection<Document>).documentsNow()]));
  }

  /** Put back a document read from a snapshot (read-model-snapshot.ts). */
  restore(name: string, doc: Document): void {
    (this.collection(name) as unknown as MemoryCollection<Document>).restore(doc);
  }

  async close(): Promise<void> {}
}
