/** How long a key's window lasts: at most one event per key and window (and per instance). */
export const DENIAL_SAMPLE_MS = 60_000;
/** Bounded memory: keys of the open windows. */
const MAX_KEYS = 10_000;

interface Window<T> {
  since: number;
  suppressed: number;
  /** What the key's last event described, for the flush to describe it again. */
  last: T;
}

/**
 * Per-key sampling of refusals, the pattern of login.flow.rejected
 * (src/commands/login-flow/rejections.ts) with the count made explicit: the
 * first refusal of a key in a window is written at once, carrying how many
 * of the key's refusals since its previous event were not (`suppressed`);
 * later ones in the window only count. A flush writes, for every window that
 * closed with refusals counted, one last event with that count, so no refusal
 * goes unrecorded even when its key never comes back.
 */
export class Sampler<T> {
  private readonly windows = new Map<string, Window<T>>();
  /** Windows closed early to bound memory (more than MAX_KEYS keys in a minute), for the next drain to write. */
  private readonly evicted: Array<{ describe: T; suppressed: number }> = [];

  constructor(private readonly windowMs = DENIAL_SAMPLE_MS) {}

  /** The suppressed count the event must carry, or undefined while the key's window is open (the refusal only counts). */
  take(key: string, now: number, describe: T): number | undefined {
    const window = this.windows.get(key);
    if (window && now - window.since < this.windowMs) {
      window.suppressed++;
      return undefined;
    }
    this.windows.delete(key);
    if (this.windows.size >= MAX_KEYS) this.evictOldest();
    this.windows.set(key, { since: now, suppressed: 0, last: describe });
    return window?.suppressed ?? 0;
  }

  /**
   * Closes the windows older than the window length (all of them with `all`)
   * and answers those that counted refusals, for one event each, with those
   * closed early to keep at most MAX_KEYS windows open.
   */
  drain(now: number, all = false): Array<{ describe: T; suppressed: number }> {
    const out = this.evicted.splice(0);
    for (const [key, window] of this.windows) {
      if (!all && now - window.since < this.windowMs) continue;
      this.windows.delete(key);
      if (window.suppressed > 0) out.push({ describe: window.last, suppressed: window.suppressed });
    }
    return out;
  }

  /** The oldest window goes: its count waits for the next drain (at most MAX_KEYS of them; beyond, counts are dropped). */
  private evictOldest(): void {
    const [key, window] = this.windows.entries().next().value!;
    this.windows.delete(key);
    if (window.suppressed > 0 && this.evicted.length < MAX_KEYS) this.evicted.push({ describe: window.last, suppressed: window.suppressed });
  }

  get size(): number {
    return this.windows.size;
  }
}
