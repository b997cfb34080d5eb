import { createRequire } from 'node:module';
import type { Query as MingoQuery } from 'mingo';
import type { Filter } from '../ports/read-models.js';

/**
 * Filters for the in-memory read models. mingo is the evaluator of record: it
 * implements MongoDB's query language, with script operators turned off since
 * filters may carry client values. For the handful of operators our list
 * queries compile to, this module also builds a plain closure, some fifty times
 * faster than mingo's generic evaluator (it matters when one organization has
 * 100,000 users); anything outside that subset, or a document whose path runs
 * through an array, goes to mingo. test/query/filter-predicate.test.ts checks the
 * two agree on generated queries.
 */
export type Predicate = (doc: unknown) => boolean;

const MINGO_OPTIONS = { scriptEnabled: false } as const;

/** mingo is loaded when a filter first needs it (most never do): its import was a tenth of the time to start. */
let Query: typeof MingoQuery | undefined;

export const mingoPredicate = (filter: Filter): Predicate => {
  Query ??= (createRequire(import.meta.url)('mingo') as typeof import('mingo')).Query;
  const query = new Query(filter, MINGO_OPTIONS);
  return (doc) => query.test(doc as Record<string, unknown>);
};

class Unsupported extends Error {}

/** Thrown by a path that runs through an array before its last segment. */
const THROUGH_ARRAY = Symbol('through-array');

type Getter = (doc: unknown) => unknown;

const step = (value: unknown, key: string): unknown => {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) throw THROUGH_ARRAY;
  return (value as Record<string, unknown>)[key];
};

function compilePath(path: string): Getter {
  const keys = path.split('.');
  // Short paths get a getter of their own: the hot loops stay monomorphic per path.
  if (keys.length === 1) {
    const [a] = keys as [string];
    return (doc) => step(doc, a);
  }
  if (keys.length === 2) {
    const [a, b] = keys as [string, string];
    return (doc) => step(step(doc, a), b);
  }
  return (doc) => {
    let value: unknown = doc;
    for (let i = 0; i < keys.length; i++) {
      if (value === null || typeof value !== 'object') return undefined;
      if (Array.isArray(value)) throw THROUGH_ARRAY;
      value = (value as Record<string, unknown>)[keys[i]!];
    }
    return value;
  };
}

const isScalar = (v: unknown): v is string | number | boolean | null =>
  v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** MongoDB equality on one value: arrays match when any element (or the array itself) equals. */
const equalsScalar = (value: unknown, target: string | number | boolean | null): boolean => {
  if (target === null) return value === null || value === undefined;
  if (Array.isArray(value)) return value.some((element) => element === target);
  return value === target;
};

/** Range comparisons only between values of the same kind, as MongoDB's type brackets do. */
const comparable = (a: unknown, b: unknown): boolean =>
  (typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string');

function rangeTest(op: string, bound: unknown): (value: unknown) => boolean {
  if (!(typeof bound === 'number' || typeof bound === 'string')) throw new Unsupported();
  const compare = (value: unknown): boolean => {
    if (!comparable(value, bound)) return false;
    const v = value as string | number;
    switch (op) {
      case '$gt':
        return v > bound;
      case '$gte':
        return v >= bound;
      case '$lt':
        return v < bound;
      default:
        return v <= bound;
    }
  };
  return (value) => (Array.isArray(value) ? value.some(compare) : compare(value));
}

function regexTest(source: unknown, options: unknown): (value: unknown) => boolean {
  if (typeof source !== 'string' || (options !== undefined && (typeof options !== 'string' || !/^[imsx]*$/.test(options)))) {
    throw new Unsupported();
  }
  const flags = (options ?? '').replace('x', '');
  if ((options ?? '').includes('x')) throw new Unsupported();
  const regex = new RegExp(source, flags);
  const test = (v: unknown) => typeof v === 'string' && regex.test(v);
  return (value) => (Array.isArray(value) ? value.some(test) : test(value));
}

function compileOperators(get: Getter, operators: Record<string, unknown>): Predicate {
  const tests: Array<(value: unknown) => boolean> = [];
  for (const [op, operand] of Object.entries(operators)) {
    switch (op) {
      case '$eq':
        if (!isScalar(operand)) throw new Unsupported();
        tests.push((value) => equalsScalar(value, operand));
        break;
      case '$ne':
        if (!isScalar(operand)) throw new Unsupported();
        tests.push((value) => !equalsScalar(value, operand));
        break;
      case '$in':
      case '$nin': {
        if (!Array.isArray(operand) || !operand.every(isScalar)) throw new Unsupported();
        const wanted = operand as Array<string | number | boolean | null>;
        const inTest = (value: unknown) => wanted.some((target) => equalsScalar(value, target));
        tests.push(op === '$in' ? inTest : (value) => !inTest(value));
        break;
      }
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte':
        tests.push(rangeTest(op, operand));
        break;
      case '$regex':
        tests.push(regexTest(operand, operators.$options));
        break;
      case '$options':
        if (!('$regex' in operators)) throw new Unsupported();
        break;
      case '$exists':
        if (typeof operand !== 'boolean') throw new Unsupported();
        tests.push((value) => (value !== undefined) === operand);
        break;
      default:
        throw new Unsupported();
    }
  }
  return (doc) => {
    const value = get(doc);
    return tests.every((test) => test(value));
  };
}

function compileClauses(filter: Filter): Predicate {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw new Unsupported();
  const parts: Predicate[] = [];
  for (const [key, condition] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(condition) || condition.length === 0) throw new Unsupported();
      const inner = condition.map((clause) => compileClauses(clause as Filter));
      if (key === '$and') parts.push((doc) => inner.every((p) => p(doc)));
      else if (key === '$or') parts.push((doc) => inner.some((p) => p(doc)));
      else parts.push((doc) => !inner.some((p) => p(doc)));
      continue;
    }
    if (key.startsWith('$')) throw new Unsupported();
    const get = compilePath(key);
    if (isScalar(condition)) {
      parts.push((doc) => equalsScalar(get(doc), condition));
    } else if (condition !== null && typeof condition === 'object' && !Array.isArray(condition) && !(condition instanceof RegExp)) {
      const operators = condition as Record<string, unknown>;
      if (!Object.keys(operators).every((k) => k.startsWith('$'))) throw new Unsupported(); // an embedded-document match
      parts.push(compileOperators(get, operators));
    } else {
      throw new Unsupported();
    }
  }
  return (doc) => parts.every((p) => p(doc));
}

/** A predicate for the filter: the fast closure when it covers the filter, else mingo. */
export function compilePredicate(filter: Filter): Predicate {
  let fast: Predicate;
  try {
    fast = compileClauses(filter);
  } catch (error) {
    // mingo also rejects what it must (script operators, malformed filters) here.
    if (error instanceof Unsupported) return mingoPredicate(filter);
    throw error;
  }
  let slow: Predicate | undefined;
  return (doc) => {
    try {
      return fast(doc);
    } catch (error) {
      if (error === THROUGH_ARRAY) return (slow ??= mingoPredicate(filter))(doc);
      throw error;
    }
  };
}
