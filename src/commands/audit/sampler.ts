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

  constructor(private readonly windowMs = DENIAL_SAMPLE_MS) {}

  /** The suppressed count the event must carry, or undefined while the key's window is open (the refusal only counts). */
  take(key: string, now: number, describe: T): number | undefined {
    const window = this.windows.get(key);
    if (window && now - window.since < this.windowMs) {
      window.suppressed++;
      return undefined;
    }
    this.windows.delete(key);
    this.windows.set(key, { since: now, suppressed: 0, last: describe });
    return window?.suppressed ?? 0;
  }

  /**
   * Closes the windows older than the window length (all of them with `all`)
   * and answers those that counted refusals, for one event each. Beyond
   * MAX_KEYS open windows, the oldest are closed too, so memory stays bounded.
   */
  drain(now: number, all = false): Array<{ describe: T; suppressed: number }> {
    const out: Array<{ describe: T; suppressed: number }> = [];
    const excess = Math.max(0, this.windows.size - MAX_KEYS);
    let index = 0;
    for (const [key, window] of this.windows) {
      const expired = all || index++ < excess || now - window.since >= this.windowMs;
      if (!expired) continue;
      this.windows.delete(key);
      if (window.suppressed > 0) out.push({ describe: window.last, suppressed: window.suppressed });
    }
    return out;
  }

  get size(): number {
    return this.windows.size;
  }
}
