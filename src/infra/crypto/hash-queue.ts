/** The password-hash queue is full: answer 503 with Retry-After rather than wait. */
export class HashQueueFullError extends Error {
  override readonly name = 'HashQueueFullError';
  constructor(readonly retryAfterSeconds = 1) {
    super('too many password checks at once; try again in a moment');
  }
}

/**
 * A bound on concurrent password hashes. scrypt at the cost we use takes about
 * a second of a libuv thread; without a bound, a flood of logins queues every
 * real login behind it (48 at once made one take 39 s). At most `concurrency`
 * run, at most `maxWaiting` wait, and the rest are refused at once.
 */
export class HashQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) throw new HashQueueFullError();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await work();
    } finally {
      // Hand the slot to the next in line, or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}
