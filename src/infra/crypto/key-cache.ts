/** Unwrapped data keys kept in memory at most, by default: 32 bytes each plus the map's overhead, about 15 MB. */
export const MAX_CACHED_KEYS = 100_000;

/**
 * The unwrapped data keys of crypto-shredding held in memory, by person, for
 * both key stores (the SQLite file, PostgreSQL): bounded, so that a service
 * that has seen millions of persons does not hold millions of keys. Past the
 * bound the key cached longest ago leaves (it is read and unwrapped again from
 * the store when needed); it is not zeroed, since a caller may be using it in
 * this turn, and leaving memory is not an erasure. `forget` (an erasure) and
 * `clear` zero what they drop.
 */
export class KeyCache {
  private readonly keys = new Map<string, Buffer>();

  constructor(readonly max: number = MAX_CACHED_KEYS) {
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`a key cache holds at least one key (asked ${max})`);
  }

  get(personId: string): Buffer | undefined {
    return this.keys.get(personId);
  }

  has(personId: string): boolean {
    return this.keys.has(personId);
  }

  get size(): number {
    return this.keys.size;
  }

  set(personId: string, key: Buffer): void {
    this.keys.set(personId, key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.keys().next().value!);
  }

  /**
   * Moves on every `forget` and `clear`: a reader that keeps events it opened
   * (EvolvingEventStore) drops them all when it has moved, so that the read
   * after an erasure says `[erased]`.
   */
  get generation(): number {
    return this.dropped;
  }
  private dropped = 0;

  /** An erasure: the key is zeroed and dropped. */
  forget(personId: string): void {
    this.dropped += 1;
    this.keys.get(personId)?.fill(0);
    this.keys.delete(personId);
  }

  /** Every key zeroed and dropped (they are read again from the store when needed). */
  clear(): void {
    this.dropped += 1;
    for (const key of this.keys.values()) key.fill(0);
    this.keys.clear();
  }
}

/** Erased persons remembered in memory at most, by default (ids only; the store keeps every erasure). */
export const MAX_REMEMBERED_ERASURES = 100_000;

/**
 * The persons a shared key store knows to be erased, without a query: the
 * most recent `max` of them. One that left memory reads as unknown until the
 * store's table says again that it was erased (`prepare` asks it before
 * anything is sealed or opened), so the bound costs a query, never a new key.
 */
export class RecentErasures {
  private readonly ids = new Set<string>();

  constructor(readonly max: number = MAX_REMEMBERED_ERASURES) {
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`at least one erasure is remembered (asked ${max})`);
  }

  has(personId: string): boolean {
    return this.ids.has(personId);
  }

  add(personId: string): void {
    this.ids.delete(personId);
    this.ids.add(personId);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value!);
  }

  get size(): number {
    return this.ids.size;
  }
}
