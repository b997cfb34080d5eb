/**
 * A lease: the right to be the one instance that runs a single-writer job
 * (a process manager, the tree-head signer, the retention scavenger) while
 * several instances share one log (docs/cluster.md). The holder runs the job;
 * the others wait, and one of them takes over within seconds when the holder
 * dies or loses it.
 */
export interface LeaseListener {
  /** The lease is now held: start the job (from its durable checkpoint). */
  acquired(): Promise<void> | void;
  /** The lease is gone (connection lost, or closing): stop the job at once. */
  lost(): Promise<void> | void;
}

export interface Lease {
  readonly name: string;
  /** Whether this instance holds it now. */
  readonly held: boolean;
  /**
   * Start trying to take it; the listener hears every acquisition and every loss, in turn.
   * Resolves after the first attempt (and the job's start when it was taken).
   */
  start(listener: LeaseListener): Promise<void>;
  /** Give it up (the listener hears `lost` if it was held) and stop trying. */
  close(): Promise<void>;
}

export interface Leases {
  /** The lease for one job, by name (e.g. the process's checkpoint name). */
  lease(name: string): Lease;
  close(): Promise<void>;
}

/**
 * One instance alone on its log (the embedded default, EventStoreDB): every
 * lease is held from the start and never lost.
 */
export class InProcessLeases implements Leases {
  lease(name: string): Lease {
    let held = false;
    let listener: LeaseListener | undefined;
    let starting: Promise<void> | undefined;
    return {
      name,
      get held() {
        return held;
      },
      start(given) {
        listener = given;
        held = true;
        starting = Promise.resolve(given.acquired());
        return starting;
      },
      async close() {
        await starting;
        if (held) {
          held = false;
          await listener?.lost();
        }
      },
    };
  }

  async close(): Promise<void> {}
}
