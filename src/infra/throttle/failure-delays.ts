/**
 * Progressive delay after failures, by key, in memory (per instance): the
 * first `freeFailures` cost nothing; after that each failure makes the key
 * wait twice as long as the last before it may try again (1 s, 2 s, 4 s, ...
 * at most `maxDelaySeconds`). A success clears the key. Keys not seen for a
 * day, or the least recently used beyond `maxKeys`, are forgotten.
 */
export class FailureDelays {
  private readonly entries = new Map<string, { failures: number; until: number; seen: number }>();

  constructor(
    private readonly freeFailures: number,
    private readonly maxDelaySeconds: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Seconds `key` must still wait, or 0. */
  waitSeconds(key: string, now: number): number {
    const entry = this.entries.get(key);
    if (!entry) return 0;
    if (now - entry.seen > 86_400_000) {
      this.entries.delete(key);
      return 0;
    }
    return entry.until > now ? Math.ceil((entry.until - now) / 1000) : 0;
  }

  /** `freeFailures`: this key's own number of free failures (an organization's maximum_password_attempts), else the default. */
  failed(key: string, now: number, freeFailures = this.freeFailures): void {
    const failures = (this.entries.get(key)?.failures ?? 0) + 1;
    const over = failures - freeFailures;
    const delaySeconds = over <= 0 ? 0 : Math.min(this.maxDelaySeconds, 2 ** (over - 1));
    this.entries.delete(key);
    this.entries.set(key, { failures, until: now + delaySeconds * 1000, seen: now });
    if (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
  }

  succeeded(key: string): void {
    this.entries.delete(key);
  }
}
