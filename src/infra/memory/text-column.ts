import { asciiLower } from './text-search.js';

/** The value of a path that holds an array or runs through one: only MongoDB's array rules can decide for it. */
export const UNSURE: unique symbol = Symbol('unsure');

/** The plain value at a path, or UNSURE when an array is on the way or at the end. */
const splitPaths = new Map<string, readonly string[]>();
export function plainAt(doc: unknown, path: string): unknown {
  let keys = splitPaths.get(path);
  if (!keys) splitPaths.set(path, (keys = path.split('.')));
  let value: unknown = doc;
  for (const key of keys) {
    if (Array.isArray(value)) return UNSURE;
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return Array.isArray(value) ? UNSURE : value;
}

/**
 * One text field of the documents of one partition (an organization), kept as
 * one string: every document's value followed by NUL, in the order written.
 * A substring condition over the field is then `indexOf` over that string,
 * hit after hit, instead of a test of each document: the documents of a
 * large organization live all over the heap and the scan's time goes in
 * reaching them (cache misses), not in comparing characters.
 *
 * Only a plain string value has a segment. A document whose value is
 * anything else (absent, null, a number) has none and contains nothing; one
 * whose path holds an array, or runs through one, is `unsure`: MongoDB's
 * array rules decide for it, so the planner tests it with the filter itself.
 *
 * A write appends the new value and marks the old segment dead; the string is
 * joined again at the next query, and compacted once the dead segments
 * outnumber the live ones. The column never decides alone that a document
 * matches a query: it answers one condition exactly, and the planner
 * (bitmap-plan.ts) combines the conditions.
 */
export class TextColumn {
  private parts: string[] = [];
  /** The ordinal of each segment's document, -1 once dead. */
  private segOrd: number[] = [];
  /** The end (exclusive, after the NUL) of each segment in the joined string. */
  private segEnd: number[] = [];
  private length = 0;
  private dead = 0;
  /** Ordinal -> its live segment. */
  private readonly segmentOf = new Map<number, number>();
  /** Ordinals whose value holds an array (or runs through one): the column cannot answer for them. */
  readonly unsure = new Set<number>();
  private joined: string | undefined;
  private lowered: string | undefined;

  constructor(readonly path: string) {}

  /** The column's view of a document: its string, nothing, or unsure. */
  static valueOf(doc: unknown, path: string): string | undefined | typeof UNSURE {
    const value = plainAt(doc, path);
    if (value === UNSURE) return UNSURE;
    // A NUL would let a needle span two values: such a value is left to the filter.
    return typeof value === 'string' ? (value.includes('\u0000') ? UNSURE : value) : undefined;
  }

  set(ord: number, doc: unknown): void {
    const value = TextColumn.valueOf(doc, this.path);
    const seg = this.segmentOf.get(ord);
    // Unchanged: nothing to do (a write that touched other fields).
    if (seg !== undefined && typeof value === 'string' && this.parts[seg]!.length === value.length + 1 && this.parts[seg]!.startsWith(value)) return;
    this.remove(ord);
    if (value === UNSURE) {
      this.unsure.add(ord);
      return;
    }
    if (value === undefined) return;
    const part = value + '\u0000';
    this.segmentOf.set(ord, this.parts.length);
    this.parts.push(part);
    this.segOrd.push(ord);
    this.length += part.length;
    this.segEnd.push(this.length);
    this.joined = this.lowered = undefined;
  }

  remove(ord: number): void {
    this.unsure.delete(ord);
    const seg = this.segmentOf.get(ord);
    if (seg === undefined) return;
    this.segmentOf.delete(ord);
    this.segOrd[seg] = -1;
    this.dead++;
    if (this.dead > 1024 && this.dead > this.segmentOf.size) this.compact();
  }

  private compact(): void {
    const parts: string[] = [];
    const segOrd: number[] = [];
    const segEnd: number[] = [];
    let length = 0;
    this.segmentOf.clear();
    for (let i = 0; i < this.parts.length; i++) {
      const ord = this.segOrd[i]!;
      if (ord < 0) continue;
      this.segmentOf.set(ord, parts.length);
      parts.push(this.parts[i]!);
      segOrd.push(ord);
      length += this.parts[i]!.length;
      segEnd.push(length);
    }
    this.parts = parts;
    this.segOrd = segOrd;
    this.segEnd = segEnd;
    this.length = length;
    this.dead = 0;
    this.joined = this.lowered = undefined;
  }

  /**
   * Set the bit of each document (bit ord & 31 of `into[ord >>> 5]`) whose value contains the needle (ASCII
   * letters folded when `foldAscii`, as a non-unicode /i regex of an ASCII
   * needle does); the needle must hold no NUL and be non-empty.
   */
  mark(needle: string, foldAscii: boolean, into: Uint32Array): void {
    const text = foldAscii ? (this.lowered ??= asciiLower(this.text())) : this.text();
    const wanted = foldAscii ? asciiLower(needle) : needle;
    const { segEnd, segOrd } = this;
    let seg = 0;
    let from = 0;
    for (;;) {
      const at = text.indexOf(wanted, from);
      if (at < 0) return;
      while (segEnd[seg]! <= at) seg++;
      const ord = segOrd[seg]!;
      if (ord >= 0) into[ord >>> 5]! |= 1 << (ord & 31);
      from = segEnd[seg]!;
    }
  }

  private text(): string {
    return (this.joined ??= this.parts.join(''));
  }
}
