import type { Document, Filter } from '../../ports/read-models.js';
import { compilePredicate, type Predicate } from './filter-compiler.js';
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
  /** bits[ord] = 1 for each match. */
  readonly bits: Uint8Array;
  readonly count: number;
}

/**
 * The matches of `filter` among the entries of `universe` (the pinned
 * partition), or undefined when no index serves any of its conditions (a
 * scan is then as good).
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

  const size = context.size;
  const all = new Uint8Array(size);
  for (let i = 0; i < universe.length; i++) all[universe[i]!] = 1;

  /** Test a filter on the candidates (bits set in `among`, and not in `skip`), setting `into`. */
  const test = (filter: Filter, among: Uint8Array, into: Uint8Array, skip?: Uint8Array): void => {
    const matches: Predicate = compilePredicate(filter);
    for (let i = 0; i < universe.length; i++) {
      const ord = universe[i]!;
      if (among[ord] !== 1 || (skip !== undefined && skip[ord] === 1)) continue;
      const doc = context.docAt(ord);
      if (doc !== undefined && matches(doc)) into[ord] = 1;
    }
  };

  /** The candidates (bits in `among`) that meet the node. */
  const evaluate = (node: Node, among: Uint8Array): Uint8Array => {
    switch (node.kind) {
      case 'text': {
        const column = context.textColumn(node.path);
        if (!column) break;
        const hits = new Uint8Array(size);
        const candidates = context.textCandidates(node.path, node.needle);
        if (candidates) {
          // A selective needle: test the few documents that have all its trigrams, as the column would.
          const wanted = node.fold ? asciiLower(node.needle) : node.needle;
          const matches = compilePredicate(node.filter);
          for (const { ord, doc } of candidates) {
            if (among[ord] !== 1) continue;
            const value = TextColumn.valueOf(doc, node.path);
            if (value === UNSURE) hits[ord] = matches(doc) ? 1 : 0;
            else if (value !== undefined && (node.fold ? asciiLower(value) : value).includes(wanted)) hits[ord] = 1;
          }
          return hits;
        }
        column.mark(node.needle, node.fold, hits);
        for (let i = 0; i < size; i++) hits[i] = hits[i]! & among[i]!;
        if (column.unsure.size > 0) {
          const matches = compilePredicate(node.filter);
          for (const ord of column.unsure) {
            const doc = context.docAt(ord);
            if (among[ord] === 1 && doc !== undefined && matches(doc)) hits[ord] = 1;
          }
        }
        return hits;
      }
      case 'search': {
        const candidates = context.searchCandidates(node.paths, node.needle);
        if (!candidates) return evaluate({ kind: 'or', parts: node.parts }, among);
        const columns = node.paths.map((path) => context.textColumn(path));
        const hits = new Uint8Array(size);
        const wanted = asciiLower(node.needle);
        const matches = compilePredicate(node.filter);
        for (const { ord, doc, text } of candidates) {
          if (among[ord] !== 1) continue;
          // A field the columns cannot judge (an array): the filter decides.
          if (columns.some((column) => column === undefined || column.unsure.has(ord))) hits[ord] = matches(doc) ? 1 : 0;
          else if (text.includes(wanted)) hits[ord] = 1;
        }
        return hits;
      }
      case 'range': {
        const ords = context.range(node.path, node.range);
        if (!ords) break;
        const hits = new Uint8Array(size);
        for (let i = 0; i < ords.length; i++) {
          const ord = ords[i]!;
          hits[ord] = among[ord]!;
        }
        return hits;
      }
      case 'and': {
        let current = among;
        const rest: Filter[] = [];
        for (const part of node.parts) {
          if (served(part)) current = evaluate(part, current);
          else rest.push(part.kind === 'other' ? part.filter : toFilter(part));
        }
        if (rest.length === 0) return current;
        const hits = new Uint8Array(size);
        test(rest.length === 1 ? rest[0]! : { $and: rest }, current, hits);
        return hits;
      }
      case 'or':
      case 'nor': {
        const union = new Uint8Array(size);
        const rest: Filter[] = [];
        for (const part of node.parts) {
          if (!served(part)) {
            rest.push(part.kind === 'other' ? part.filter : toFilter(part));
            continue;
          }
          const hits = evaluate(part, among);
          for (let i = 0; i < size; i++) union[i] = union[i]! | hits[i]!;
        }
        if (rest.length > 0) test(rest.length === 1 ? rest[0]! : { $or: rest }, among, union, union);
        if (node.kind === 'or') return union;
        const hits = new Uint8Array(size);
        for (let i = 0; i < size; i++) hits[i] = among[i]! & (union[i]! ^ 1);
        return hits;
      }
      case 'other':
        break;
    }
    const hits = new Uint8Array(size);
    test(toFilter(node), among, hits);
    return hits;
  };

  const bits = evaluate(root, all);
  let count = 0;
  for (let i = 0; i < universe.length; i++) count += bits[universe[i]!]!;
  return { bits, count };
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
