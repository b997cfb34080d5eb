/** The password-hash queue is full: answer 503 with Retry-After rather than wait. */
export class HashQueueFullError extends Error {
  override readonly name = 'HashQueueFullError';
  constructor(readonly retryAfterSeconds = 1) {
    super('too many password checks at once; try again in a moment');
  }
}

/** Who a hash is for: one source holds at most one place; a priority request (a user at a known address) goes first. */
export interface HashLane {
  /** The source address: while it has a hash running or waiting, its next one is refused at once. */
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
 * one place, so a flood from one address cannot take every place; a user
 * signing in from an address they signed in from before goes first, so a flood
 * from many addresses does not keep them out.
 */
export class HashQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly priorityWaiting: (() => void)[] = [];
  private readonly holders = new Set<string>();

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  async run<T>(work: () => Promise<T>, lane: HashLane = {}): Promise<T> {
    if (lane.key !== undefined && this.holders.has(lane.key)) throw new HashQueueFullError();
    if (this.running < this.concurrency) {
      this.running += 1;
    } else {
      const line = lane.priority ? this.priorityWaiting : this.waiting;
      if (line.length >= this.maxWaiting) throw new HashQueueFullError();
      if (lane.key !== undefined) this.holders.add(lane.key);
      try {
        await new Promise<void>((resolve) => line.push(resolve));
      } finally {
        if (lane.key !== undefined) this.holders.delete(lane.key);
      }
    }
    if (lane.key !== undefined) this.holders.add(lane.key);
    try {
      return await work();
    } finally {
      if (lane.key !== undefined) this.holders.delete(lane.key);
      // Hand the slot to the next in line, priority first, or free it.
      const next = this.priorityWaiting.shift() ?? this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}
