/** The password-hash queue is full: answer 503 with Retry-After rather than wait. */
export class HashQueueFullError extends Error {
  override readonly name = 'HashQueueFullError';
  constructor(readonly retryAfterSeconds = 1) {
    super('too many password checks at once; try again in a moment');
  }
}

/** Who a hash is for: one source holds a few places at most; a priority request (a user at a known address) goes first. */
export interface HashLane {
  /** The source address: it may hold at most `concurrency` + a quarter of `maxWaiting` places, running or waiting. */
  readonly key?: string;
  /** Served before every ordinary waiting request, with places of its own. */
  readonly priority?: boolean;
}

/**
 * A bound on concurrent password hashes. scrypt at the cost we use takes about
 * a second of a libuv thread; without a bound, a flood of logins queues every
 * real login behind it (48 at once made one take 39 s, and 101 s on a loaded
 * machine). At most `concurrency` run and `maxWaiting` wait (as many again for
 * priority requests); the rest are refused at once. One source holds at most
 * `concurrency` + a quarter of `maxWaiting` places (an office behind one
 * address may sign in several people at once), so a flood from one address
 * cannot take every waiting place; a user
 * signing in from an address they signed in from before goes first, so a flood
 * from many addresses does not keep them out.
 */
export class HashQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly priorityWaiting: (() => void)[] = [];
  /** Places held per source, running or waiting. */
  private readonly held = new Map<string, number>();
  private readonly perSource: number;

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {
    this.perSource = concurrency + Math.ceil(maxWaiting / 4);
  }

  async run<T>(work: () => Promise<T>, lane: HashLane = {}): Promise<T> {
    const key = lane.key;
    if (key !== undefined && (this.held.get(key) ?? 0) >= this.perSource) throw new HashQueueFullError();
    if (this.running < this.concurrency) {
      this.running += 1;
      this.hold(key, 1);
    } else {
      const line = lane.priority ? this.priorityWaiting : this.waiting;
      if (line.length >= this.maxWaiting) throw new HashQueueFullError();
      this.hold(key, 1);
      await new Promise<void>((resolve) => line.push(resolve));
    }
    try {
      return await work();
    } finally {
      this.hold(key, -1);
      // Hand the slot to the next in line, priority first, or free it.
      const next = this.priorityWaiting.shift() ?? this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }

  private hold(key: string | undefined, change: 1 | -1): void {
    if (key === undefined) return;
    const count = (this.held.get(key) ?? 0) + change;
    if (count === 0) this.held.delete(key);
    else this.held.set(key, count);
  }
}
