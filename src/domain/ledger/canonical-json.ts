import canonicalize from 'canonicalize';

/**
 * RFC 8785 (JSON Canonicalization Scheme) text of a JSON value, as the
 * `canonicalize` package gives it, 1.23× as fast on a leaf hash
 * (docs/benchmarks.md, Ledger): a copy with every object's keys in order is
 * handed to JSON.stringify, whose strings and numbers are JCS's (RFC 8785
 * §3.2.2 takes them from ECMAScript), in one native call.
 *
 * - **Keys a copy cannot keep in order:** a key that looks like an array index
 *   (`"7"`), which JavaScript lists first in numeric order whatever order an
 *   object is built in, and `"__proto__"`, which a plain copy cannot hold. The
 *   value is then written member by member, with the same sorting.
 * - **A lone surrogate** (half of a UTF-16 pair, in a string or a key): RFC
 *   8785 has no form for it (I-JSON forbids it). Here it is written escaped,
 *   `\udXXX`, as JSON.stringify writes it. The package refuses it, so the
 *   event would have no leaf. Whatever reached the log must never stop the
 *   tree: an old event, a claim from a token, a direct write. The text stays
 *   valid JSON and parses back to the same string, and every well-formed value
 *   is written exactly as RFC 8785 says.
 * - **Anything else outside JSON** (a Date, a toJSON, undefined in an array,
 *   NaN): the package decides, as before. Events read from the log never hold
 *   such values.
 */
export function canonicalJson(value: unknown): string {
  const copy = ordered(value);
  if (copy === BY_MEMBER) return byMember(value);
  if (copy === NOT_JSON) return packaged(value);
  return JSON.stringify(copy);
}

/** `ordered` found a key a copy cannot keep in order. */
const BY_MEMBER = Symbol('by member');
/** `ordered` found a value JSON does not have. */
const NOT_JSON = Symbol('not JSON');
const INDEX_LIKE = /^(?:0|[1-9][0-9]*)$/;

const packaged = (value: unknown): string => {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('the value has no canonical JSON form');
  return text;
};

/** The value with every object's keys sorted (by UTF-16 code units, as JCS sorts them); the same object where nothing moves. */
function ordered(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : NOT_JSON;
    case 'object':
      break;
    default:
      return NOT_JSON;
  }
  if (value === null) return null;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i += 1) {
      const item: unknown = value[i];
      if (item === undefined) return NOT_JSON;
      const done = ordered(item);
      if (typeof done === 'symbol') return done;
      if (done !== item) (copy ??= value.slice())[i] = done;
    }
    return copy ?? value;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return NOT_JSON;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  let sorted = true;
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i]!;
    if (INDEX_LIKE.test(key) || key === '__proto__') return BY_MEMBER;
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
    if (typeof done === 'symbol') return done;
    if (done !== item) changed = true;
    values[i] = done;
  }
  if (!changed) return value;
  const copy: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i += 1) if (values[i] !== undefined) copy[keys[i]!] = values[i];
  return copy;
}

/** The text written member by member (the slow path: keys a copy cannot keep in order); the package for what is not JSON. */
function byMember(value: unknown): string {
  const notJson = (): never => {
    throw NOT_JSON;
  };
  const write = (item: unknown): string => {
    if (item === null) return 'null';
    switch (typeof item) {
      case 'string':
      case 'boolean':
        return JSON.stringify(item);
      case 'number':
        return Number.isFinite(item) ? JSON.stringify(item) : notJson();
      case 'object':
        break;
      default:
        return notJson();
    }
    if (Array.isArray(item)) return `[${item.map((member: unknown) => (member === undefined ? notJson() : write(member))).join(',')}]`;
    const prototype: unknown = Object.getPrototypeOf(item);
    if (prototype !== Object.prototype && prototype !== null) return notJson();
    const object = item as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(object).sort()) if (object[key] !== undefined) members.push(`${JSON.stringify(key)}:${write(object[key])}`);
    return `{${members.join(',')}}`;
  };
  try {
    return write(value);
  } catch (error) {
    if (error === NOT_JSON) return packaged(value);
    throw error;
  }
}
