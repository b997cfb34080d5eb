import type { Filter } from '../../ports/read-models.js';

/**
 * Free-text search as the list queries write it, shared by both read-model
 * adapters: recognising it in a filter, and the trigrams (three-character
 * substrings) of the searched text that an index over it keeps.
 *
 * A search is a case-insensitive regex that is a plain escaped ASCII string,
 * over one field (`{path: {$regex, $options: 'i'}}`, as `filterBy=<field>=@`
 * writes it) or over several (`{$or: [{path: <that regex>}, ...]}`, as
 * `search=` writes it). A document matches when the string is a substring of
 * one of the fields, ASCII letters folded: exactly what JavaScript's
 * non-unicode `/i` does for an ASCII pattern (it never folds a non-ASCII
 * character onto an ASCII one).
 */

const LITERAL_PATTERN = /^(?:[^.*+?^${}()|[\]\\]|\\[.*+?^${}()|[\]\\])*$/;

/** ASCII letters lower-cased, nothing else: exactly what a non-unicode /i regex folds for an ASCII pattern. */
export const asciiLower = (text: string): string => text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));

export interface TextSearch {
  /** The document paths searched (a match in any one of them). */
  readonly fields: string[];
  /** The string looked for, ASCII letters lower-cased. */
  readonly needle: string;
}

/** The needle of a case-insensitive regex condition that is a plain escaped ASCII string, else undefined. */
function literalNeedle(condition: unknown): string | undefined {
  if (condition === null || typeof condition !== 'object' || Array.isArray(condition)) return undefined;
  const { $regex, $options, ...rest } = condition as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || typeof $regex !== 'string' || $options !== 'i') return undefined;
  if (!LITERAL_PATTERN.test($regex)) return undefined;
  const needle = $regex.replace(/\\(.)/g, '$1');
  // ASCII only, and no NUL (the separator of joined texts), so the text cannot match across fields or fold differently.
  if (needle === '' || !/^[\x01-\x7f]*$/.test(needle)) return undefined;
  return asciiLower(needle);
}

/**
 * A filter that is nothing but a free-text search as an `$or` over fields of
 * one and the same case-insensitive literal regex.
 */
export function literalSearch(filter: Filter): TextSearch | undefined {
  const clauses = filter.$or;
  if (Object.keys(filter).length !== 1 || !Array.isArray(clauses) || clauses.length === 0) return undefined;
  let needle: string | undefined;
  let pattern: unknown;
  const fields: string[] = [];
  for (const clause of clauses as Filter[]) {
    if (clause === null || typeof clause !== 'object') return undefined;
    const entries = Object.entries(clause);
    if (entries.length !== 1) return undefined;
    const [field, condition] = entries[0]!;
    if (field.startsWith('$')) return undefined;
    const found = literalNeedle(condition);
    if (found === undefined) return undefined;
    const regex = (condition as { $regex: string }).$regex;
    if (pattern !== undefined && pattern !== regex) return undefined;
    pattern = regex;
    needle = found;
    fields.push(field);
  }
  return needle === undefined ? undefined : { fields, needle };
}

/**
 * The free-text searches a filter requires: its conjuncts (the filter's own
 * keys, and those of its top-level `$and`, recursively) that are a search. A
 * document matching the filter matches each of them.
 */
export function searchesIn(filter: Filter): TextSearch[] {
  const found: TextSearch[] = [];
  const visit = (clause: Filter): void => {
    if (clause === null || typeof clause !== 'object' || Array.isArray(clause)) return;
    for (const [key, condition] of Object.entries(clause)) {
      if (key === '$and' && Array.isArray(condition)) {
        for (const inner of condition as Filter[]) visit(inner);
      } else if (key === '$or') {
        const search = literalSearch({ $or: condition });
        if (search) found.push(search);
      } else if (!key.startsWith('$')) {
        const needle = literalNeedle(condition);
        if (needle !== undefined) found.push({ fields: [key], needle });
      }
    }
  };
  visit(filter);
  return found;
}

/** Searches shorter than this have no trigram: they are answered by a scan. */
export const TRIGRAM = 3;

/**
 * The distinct trigrams of some texts (each text on its own, never across
 * two), ASCII letters lower-cased, keeping only those made of ASCII
 * characters other than NUL: a needle is such a string, so the others are
 * never looked up.
 */
export function trigramsOf(texts: Iterable<string>): string[] {
  const grams = new Set<string>();
  for (const raw of texts) {
    const text = asciiLower(raw);
    // The length of the run of ASCII characters ending at i.
    let run = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      run = code >= 1 && code <= 0x7f ? run + 1 : 0;
      if (run >= TRIGRAM) grams.add(text.slice(i - TRIGRAM + 1, i + 1));
    }
  }
  return [...grams].sort();
}

/** The trigrams every document containing the needle has (none when the needle is shorter than one). */
export const needleTrigrams = (needle: string): string[] => trigramsOf([needle]);

/**
 * The string values at a path, generously: through arrays at any step and an
 * array's string elements at the end, as MongoDB matches a regex. An index
 * over more text than a query reads only finds more candidates, which the
 * query's own test then drops.
 */
export function stringsAt(doc: unknown, path: string): string[] {
  const out: string[] = [];
  const collect = (value: unknown, keys: readonly string[], depth: number): void => {
    if (depth > 32) return;
    if (keys.length === 0) {
      if (typeof value === 'string') out.push(value);
      else if (Array.isArray(value)) for (const item of value) if (typeof item === 'string') out.push(item);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const [key, ...rest] = keys as [string, ...string[]];
    if (Array.isArray(value)) {
      for (const item of value) if (item !== null && typeof item === 'object' && !Array.isArray(item)) collect(item, keys, depth + 1);
      if (/^\d+$/.test(key)) collect(value[Number(key)], rest, depth + 1);
      return;
    }
    collect((value as Record<string, unknown>)[key], rest, depth + 1);
  };
  collect(doc, path.split('.'), 0);
  return out;
}
