/**
 * Token buckets by key, in memory (per instance): each key may spend
 * `capacity` at once and earns `refillPerSecond` back. At most `maxKeys`
 * buckets are kept, the least recently used dropped first, so an attacker
 * cycling through keys cannot exhaust memory (a dropped key starts full again).
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly capacity: number,
    private readonly refillPerSecond: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Spend one token for `key`: ok, or how many seconds until one is earned back. */
  take(key: string, now: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const bucket = this.current(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.refillPerSecond)) };
  }

  private current(key: string, now: number) {
    const found = this.buckets.get(key);
    const bucket = found
      ? { tokens: Math.min(this.capacity, found.tokens + ((now - found.at) / 1000) * this.refillPerSecond), at: now }
      : { tokens: this.capacity, at: now };
    // Re-inserting moves the key to the end: the Map's order is least recently used first.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return bucket;
  }
}
