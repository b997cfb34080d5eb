import canonicalize from 'canonicalize';

/**
 * RFC 8785 (JSON Canonicalization Scheme) text of a JSON value, as the
 * `canonicalize` package gives it, in a third of its time for the values
 * events hold (docs/benchmarks.md, Ledger): a copy with every object's keys
 * in order is handed to JSON.stringify, whose strings and numbers are JCS's
 * (RFC 8785 §3.2.2 takes them from ECMAScript), in one native call.
 *
 * Where a copy would not serialize the same, the package does it all:
 * - a key that looks like an array index (`"7"`): JavaScript lists those
 *   first, in numeric order, whatever order an object is built in; and
 *   `"__proto__"`, which a plain copy cannot hold as a key;
 * - anything that is not a plain object, array, string, finite number,
 *   boolean or null (a Date, a toJSON, undefined in an array, ...).
 * A string with a lone surrogate has no canonical form (RFC 8785 §3.2.2.2,
 * I-JSON): an error, as the package says.
 */
export function canonicalJson(value: unknown): string {
  const copy = ordered(value);
  if (copy === UNSUPPORTED) {
    const text = canonicalize(value);
    if (text === undefined) throw new Error('the value has no canonical JSON form');
    return text;
  }
  return JSON.stringify(copy);
}

const UNSUPPORTED = Symbol('unsupported');
/** String.prototype.isWellFormed (Node 20; not in this TypeScript's library yet): no lone surrogate. */
const wellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed();
const INDEX_LIKE = /^(?:0|[1-9][0-9]*)$/;

/** The value with every object's keys sorted (by UTF-16 code units, as JCS sorts them); the same object where nothing moves. */
function ordered(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
      if (!wellFormed(value)) throw new Error('Lone surrogate is not allowed');
      return value;
    case 'number':
      return Number.isFinite(value) ? value : UNSUPPORTED;
    case 'boolean':
      return value;
    case 'object':
      break;
    default:
      return UNSUPPORTED;
  }
  if (value === null) return null;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i += 1) {
      const item: unknown = value[i];
      if (item === undefined) return UNSUPPORTED;
      const done = ordered(item);
      if (done === UNSUPPORTED) return UNSUPPORTED;
      if (done !== item) (copy ??= value.slice())[i] = done;
    }
    return copy ?? value;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return UNSUPPORTED;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  let sorted = true;
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i]!;
    // An index-like key would be listed first by JavaScript; a copy's "__proto__" would set its prototype.
    if (INDEX_LIKE.test(key) || key === '__proto__') return UNSUPPORTED;
    if (!wellFormed(key)) throw new Error('Lone surrogate is not allowed');
    if (i > 0 && keys[i - 1]! > key) sorted = false;
  }
  if (!sorted) keys.sort();
  let changed = !sorted;
  const values: unknown[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i += 1) {
    const item = object[keys[i]!];
    if (item === undefined) {
      changed = true; // left out, as JSON.stringify and JCS leave it
      values[i] = undefined;
      continue;
    }
    const done = ordered(item);
    if (done === UNSUPPORTED) return UNSUPPORTED;
    if (done !== item) changed = true;
    values[i] = done;
  }
  if (!changed) return value;
  const copy: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i += 1) if (values[i] !== undefined) copy[keys[i]!] = values[i];
  return copy;
}
