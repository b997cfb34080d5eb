import type { Document, Filter } from '../../ports/read-models.js';
import { compilePredicate, type Predicate } from '../../query/filter-predicate.js';
import { TextColumn, UNSURE } from './text-column.js';
import { asciiLower } from './text-search.js';

/**
 * The matches of a filter inside one sorted partition (an organization, a
 * state), as a bitmap over the collection's document ordinals, computed one
 * condition at a time through the in-memory indexes rather than one document
 * at a time: a substring (`$regex` of an escaped literal, with or without
 * `i`) through the partition's text column (text-column.ts), a range or an
 * equality through a sorted list of the partition on that field (bisection),
 * and `$and` / `$or` / `$nor` as bitmap operations. A condition no index
 * serves is tested with the filter compiler on the documents still in the
 * running, and only on those. The page is then a walk of the sorted list
 * checking one bit per entry, and the total the number of bits set: the
 * documents of a large organization, spread over the heap, are only reached
 * where an index cannot answer.
 *
 * Every answer is exact (an index here answers its condition exactly, or
 * defers to the filter for the documents it cannot judge), so the result is
 * the scan's; test/infra/bitmap-plan.test.ts checks that on random data and
 * filters.
 */

export type Bound = { value: string | number; inclusive: boolean };
export type Range = { lower?: Bound; upper?: Bound };

export interface PlanContext {
  /** One more than the largest ordinal. */
  readonly size: number;
  /** The text column of a path in the filter's pinned partition, if one is kept. */
  textColumn(path: string): TextColumn | undefined;
  /**
   * The documents that may contain the needle at the path, through the
   * trigram index, when that narrows the partition well (a superset of the
   * matches: each is then tested); undefined otherwise.
   */
  textCandidates(path: string, needle: string): Iterable<{ readonly ord: number; readonly doc: Document }> | undefined;
  /**
   * For a search over at least every field of a trigram index: the entries
   * that may contain the needle, each with its fields' text lower-cased and
   * joined by NUL (the text contains the needle exactly when one of its
   * fields does, for a document whose fields are plain strings); undefined
   * when the index does not narrow the partition well.
   */
  searchCandidates(paths: readonly string[], needle: string): Iterable<{ readonly ord: number; readonly doc: Document; readonly text: string }> | undefined;
  /** The ordinals of the pinned partition's documents whose value at path is in the range, if a sorted list serves it. */
  range(path: string, range: Range): Int32Array | undefined;
  /** The document of an ordinal. */
  docAt(ord: number): Document | undefined;
  /**
   * Optional: the bitmap of a condition (keyed by the condition) over the
   * whole universe, kept while nothing is written, or computed now. With
   * `test` (the condition's bit for one ordinal, exactly), a kept bitmap may
   * be brought up to date after writes by testing the ordinals written since.
   * The caller owns the validity; a bitmap handed out is never changed.
   */
  memo?(key: string, compute: () => Uint32Array, test?: (ord: number) => boolean): Uint32Array;
}

type Node =
  | { kind: 'and' | 'or' | 'nor'; parts: Node[] }
  | { kind: 'text'; path: string; needle: string; fold: boolean; filter: Filter }
  /** The same case-insensitive needle in any of some fields: a free-text search. */
  | { kind: 'search'; paths: string[]; needle: string; filter: Filter; parts: Node[] }
  | { kind: 'range'; path: string; range: Range; filter: Filter }
  | { kind: 'other'; filter: Filter };

const LITERAL = /^(?:[^.*+?^${}()|[\]\\]|\\[.*+?^${}()|[\]\\])*$/;

function leaf(path: string, condition: unknown): Node {
  const filter = { [path]: condition };
  if (typeof condition === 'string' || typeof condition === 'number') return { kind: 'range', path, range: { lower: { value: condition, inclusive: true }, upper: { value: condition, inclusive: true } }, filter };
  if (condition === null || typeof condition !== 'object' || Array.isArray(condition) || condition instanceof RegExp) return { kind: 'other', filter };
  const ops = condition as Record<string, unknown>;
  const keys = Object.keys(ops);
  if ('$regex' in ops) {
    const { $regex, $options } = ops;
    if (keys.length > 2 || (keys.length === 2 && !('$options' in ops))) return { kind: 'other', filter };
    if (typeof $regex !== 'string' || $regex === '' || !LITERAL.test($regex)) return { kind: 'other', filter };
    if ($options !== undefined && $options !== '' && $options !== 'i') return { kind: 'other', filter };
    const needle = $regex.replace(/\\(.)/g, '$1');
    const fold = $options === 'i';
    // Folding: only an ASCII needle folds exactly as asciiLower does (a non-unicode /i); no NUL in any needle.
    if (needle.includes('\u0000') || (fold && !/^[\x01-\x7f]*$/.test(needle))) return { kind: 'other', filter };
    return { kind: 'text', path, needle, fold, filter };
  }
  const range: Range = {};
  for (const [op, value] of Object.entries(ops)) {
    if (typeof value !== 'string' && typeof value !== 'number') return { kind: 'other', filter };
    if (Number.isNaN(value)) return { kind: 'other', filter };
    if ((op === '$gt' || op === '$gte' || op === '$eq') && !range.lower) range.lower = { value, inclusive: op !== '$gt' };
    else if ((op === '$lt' || op === '$lte') && !range.upper) range.upper = { value, inclusive: op === '$lte' };
    else return { kind: 'other', filter };
    if (op === '$eq') {
      if (range.upper) return { kind: 'other', filter };
      range.upper = { value, inclusive: true };
    }
  }
  // Two bounds of different types match nothing in MongoDB's type brackets; leave that to the filter.
  if (range.lower && range.upper && typeof range.lower.value !== typeof range.upper.value) return { kind: 'other', filter };
  return range.lower || range.upper ? { kind: 'range', path, range, filter } : { kind: 'other', filter };
}

function parse(filter: Filter): Node {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) return { kind: 'other', filter };
  const parts: Node[] = [];
  for (const [key, condition] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(condition) || condition.length === 0) return { kind: 'other', filter };
      const inner = condition.map((clause) => parse(clause as Filter));
      const texts = inner.filter((node): node is Extract<Node, { kind: 'text' }> => node.kind === 'text');
      if (key === '$or' && texts.length === inner.length && texts.every((node) => node.fold && node.needle === texts[0]!.needle)) {
        parts.push({ kind: 'search', paths: texts.map((node) => node.path), needle: texts[0]!.needle, filter: { $or: condition }, parts: inner });
      } else parts.push(key === '$and' ? { kind: 'and', parts: inner } : { kind: key === '$or' ? 'or' : 'nor', parts: inner });
    } else if (key.startsWith('$')) {
      return { kind: 'other', filter };
    } else {
      parts.push(leaf(key, condition));
    }
  }
  return parts.length === 1 ? parts[0]! : { kind: 'and', parts };
}

export interface PlannedMatches {
  /** A bit per ordinal, 32 to a word: bit (ord & 31) of bits[ord >>> 5] is set for each match. */
  readonly bits: Uint32Array;
  readonly count: number;
}

/** Whether the bitmap holds the ordinal. */
export const hasBit = (bits: Uint32Array, ord: number): boolean => ((bits[ord >>> 5]! >>> (ord & 31)) & 1) === 1;
const setBit = (bits: Uint32Array, ord: number): void => {
  bits[ord >>> 5]! |= 1 << (ord & 31);
};

/** The number of bits set. */
export function popcount(bits: Uint32Array): number {
  let count = 0;
  for (let i = 0; i < bits.length; i++) {
    let v = bits[i]!;
    if (v === 0) continue;
    v = v - ((v >>> 1) & 0x55555555);
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    count += (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
  }
  return count;
}

/**
 * The matches of `filter` among the entries of `universe` (the pinned
 * partition), or undefined when no index serves any of its conditions (a
 * scan is then as good).
 *
 * The answer of a condition an index serves (a substring, a range) does not
 * depend on the other conditions: it is computed over the whole universe and
 * handed to `context.memo` when there is one, which may keep it for the next
 * query while nothing was written (memory-read-models.ts); the conditions are
 * then combined word by word (32 documents at a time).
 */
export function planMatches(filter: Filter, universe: Int32Array, context: PlanContext): PlannedMatches | undefined {
  const root = parse(filter);
  const served = (node: Node): boolean => {
    switch (node.kind) {
      case 'and':
      case 'or':
      case 'nor':
      case 'search':
        return node.parts.some(served);
      case 'text':
        return context.textColumn(node.path) !== undefined;
      case 'range':
        return context.range(node.path, node.range) !== undefined;
      case 'other':
        return false;
    }
  };
  if (!served(root)) return undefined;

  const words = (context.size + 31) >>> 5;
  const all = context.memo ? context.memo('universe', () => bitsOf(universe, words)) : bitsOf(universe, words);
  const memo = (node: { kind: string; filter: Filter }, compute: () => Uint32Array): Uint32Array => {
    if (!context.memo) return compute();
    let matches: Predicate | undefined;
    // The condition for one document of the universe: what the index answers for it, exactly.
    const test = (ord: number): boolean => {
      const doc = context.docAt(ord);
      return doc !== undefined && hasBit(all, ord) && (matches ??= compilePredicate(node.filter))(doc);
    };
    return context.memo(JSON.stringify([node.kind, node.filter]), compute, test);
  };
  const and = (a: Uint32Array, b: Uint32Array): Uint32Array => {
    const out = new Uint32Array(words);
    for (let i = 0; i < words; i++) out[i] = a[i]! & b[i]!;
    return out;
  };

  /** Test a filter on the candidates (bits set in `among`, and not in `skip`), setting `into`. */
  const test = (filter: Filter, among: Uint32Array, into: Uint32Array, skip?: Uint32Array): void => {
    const matches: Predicate = compilePredicate(filter);
    for (let i = 0; i < universe.length; i++) {
      const ord = universe[i]!;
      if (!hasBit(among, ord) || (skip !== undefined && hasBit(skip, ord))) continue;
      const doc = context.docAt(ord);
      if (doc !== undefined && matches(doc)) setBit(into, ord);
    }
  };

  /** The universe's documents that meet a substring condition (its column must exist). */
  const textMatches = (node: Extract<Node, { kind: 'text' }>, column: TextColumn): Uint32Array => {
    const hits = new Uint32Array(words);
    const candidates = context.textCandidates(node.path, node.needle);
    if (candidates) {
      // A selective needle: test the few documents that have all its trigrams, as the column would.
      const wanted = node.fold ? asciiLower(node.needle) : node.needle;
      const matches = compilePredicate(node.filter);
      for (const { ord, doc } of candidates) {
        if (!hasBit(all, ord)) continue;
        const value = TextColumn.valueOf(doc, node.path);
        if (value === UNSURE) {
          if (matches(doc)) setBit(hits, ord);
        } else if (value !== undefined && (node.fold ? asciiLower(value) : value).includes(wanted)) setBit(hits, ord);
      }
      return hits;
    }
    column.mark(node.needle, node.fold, hits);
    for (let i = 0; i < words; i++) hits[i]! &= all[i]!;
    if (column.unsure.size > 0) {
      const matches = compilePredicate(node.filter);
      for (const ord of column.unsure) {
        const doc = context.docAt(ord);
        if (hasBit(all, ord) && doc !== undefined && matches(doc)) setBit(hits, ord);
      }
    }
    return hits;
  };

  /** The candidates (bits in `among`) that meet the node. */
  const evaluate = (node: Node, among: Uint32Array): Uint32Array => {
    switch (node.kind) {
      case 'text': {
        const column = context.textColumn(node.path);
        if (!column) break;
        return and(memo(node, () => textMatches(node, column)), among);
      }
      case 'search': {
        const candidates = context.searchCandidates(node.paths, node.needle);
        if (!candidates) return evaluate({ kind: 'or', parts: node.parts }, among);
        const columns = node.paths.map((path) => context.textColumn(path));
        const hits = new Uint32Array(words);
        const wanted = asciiLower(node.needle);
        const matches = compilePredicate(node.filter);
        for (const { ord, doc, text } of candidates) {
          if (!hasBit(among, ord)) continue;
          // A field the columns cannot judge (an array): the filter decides.
          if (columns.some((column) => column === undefined || column.unsure.has(ord))) {
            if (matches(doc)) setBit(hits, ord);
          } else if (text.includes(wanted)) setBit(hits, ord);
        }
        return hits;
      }
      case 'range': {
        const ords = context.range(node.path, node.range);
        if (!ords) break;
        return and(
          memo(node, () => bitsOf(ords, words)),
          among,
        );
      }
      case 'and': {
        let current = among;
        const rest: Filter[] = [];
        for (const part of node.parts) {
          if (served(part)) current = evaluate(part, current);
          else rest.push(part.kind === 'other' ? part.filter : toFilter(part));
        }
        if (rest.length === 0) return current;
        const hits = new Uint32Array(words);
        test(rest.length === 1 ? rest[0]! : { $and: rest }, current, hits);
        return hits;
      }
      case 'or':
      case 'nor': {
        const union = new Uint32Array(words);
        const rest: Filter[] = [];
        for (const part of node.parts) {
          if (!served(part)) {
            rest.push(part.kind === 'other' ? part.filter : toFilter(part));
            continue;
          }
          const hits = evaluate(part, among);
          for (let i = 0; i < words; i++) union[i]! |= hits[i]!;
        }
        if (rest.length > 0) test(rest.length === 1 ? rest[0]! : { $or: rest }, among, union, union);
        if (node.kind === 'or') return union;
        const hits = new Uint32Array(words);
        for (let i = 0; i < words; i++) hits[i] = among[i]! & ~union[i]!;
        return hits;
      }
      case 'other':
        break;
    }
    const hits = new Uint32Array(words);
    test(toFilter(node), among, hits);
    return hits;
  };

  // Every answer is a subset of `among`, so of the universe: the total is the count of bits.
  const bits = evaluate(root, all);
  return { bits, count: popcount(bits) };
}

function bitsOf(ords: Int32Array, words: number): Uint32Array {
  const bits = new Uint32Array(words);
  for (let i = 0; i < ords.length; i++) setBit(bits, ords[i]!);
  return bits;
}

/** A node back as a filter (for the parts tested document by document). */
function toFilter(node: Node): Filter {
  switch (node.kind) {
    case 'and':
      return { $and: node.parts.map(toFilter) };
    case 'or':
      return { $or: node.parts.map(toFilter) };
    case 'nor':
      return { $nor: node.parts.map(toFilter) };
    case 'search':
      return node.filter;
    default:
      return node.filter;
  }
}
