import type { Logger } from 'pino';
import type { GlobalPosition } from '../ports/event-store.js';
import type { Lease } from '../ports/lease.js';

/** A background job that must run on one instance at a time: made afresh each time its lease is taken. */
export interface Job {
  start(): Promise<void> | void;
  /** Stop at once; `lost` says the lease is already gone (another instance may run it now: write no checkpoint). */
  stop(reason: { lost: boolean }): Promise<void> | void;
  /** Where the job has got to in the log (a process manager's last finished event), for its lag. */
  readonly finishedPosition?: GlobalPosition | undefined;
}

/**
 * Runs a job only while its lease is held (docs/cluster.md): a fresh job from
 * `make` on every acquisition (a process manager resumes from its durable
 * checkpoint), stopped when the lease is lost or the service stops.
 */
export class LeasedJob {
  private job: Job | undefined;
  private acquisitions = 0;

  constructor(
    private readonly lease: Lease,
    private readonly make: () => Job,
    private readonly logger?: Logger,
    /** Told whenever this instance takes or gives up the lease (the metrics' lease gauge). */
    private readonly held?: (name: string, held: boolean) => void,
  ) {}

  /** The running job's position in the log; undefined while this instance does not run it. */
  get finishedPosition(): GlobalPosition | undefined {
    return this.job?.finishedPosition;
  }

  get name(): string {
    return this.lease.name;
  }

  /** Whether this instance runs the job now. */
  get running(): boolean {
    return this.job !== undefined;
  }

  /** How many times this instance took the lease. */
  get taken(): number {
    return this.acquisitions;
  }

  /** Resolves after the first try for the lease (and the job's start when it was taken). */
  start(): Promise<void> {
    return this.lease.start({
      acquired: async () => {
        this.acquisitions += 1;
        const job = this.make();
        this.job = job;
        this.held?.(this.lease.name, true);
        await job.start();
        if (this.acquisitions > 1) this.logger?.info({ job: this.lease.name }, 'took over a leased job');
      },
      lost: async () => {
        const job = this.job;
        this.job = undefined;
        this.held?.(this.lease.name, false);
        await job?.stop({ lost: true });
      },
    });
  }

  /** Stop the job and give the lease up. */
  async stop(): Promise<void> {
    const job = this.job;
    this.job = undefined;
    if (job) this.held?.(this.lease.name, false);
    await job?.stop({ lost: false });
    await this.lease.close();
  }
}
