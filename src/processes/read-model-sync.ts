import type { EventStore, GlobalPosition } from '../ports/event-store.js';
import type { ProjectionRunner } from '../projections/runner.js';

/** Long enough for a restart that rebuilds the read models from the whole log. */
const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * Processes read the read models to find what to act on (the children of an
 * organization, the projects of a group); they must first let them catch up,
 * or they would miss what was written just before.
 */
export class ReadModelSync {
  constructor(
    private readonly events: EventStore,
    private readonly projections: Pick<ProjectionRunner, 'waitFor'>,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {}

  /**
   * Until every read model has applied the event at `position`; an error (so
   * the step is retried) if it takes too long, or when `signal` fires (the
   * service is stopping and must not wait for a rebuild to finish).
   */
  async reach(position: GlobalPosition | undefined, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    try {
      const reached = await Promise.race([this.projections.waitFor(position, this.timeoutMs), aborted]);
      if (!reached) throw new Error(`the read models did not reach position ${position?.commit} within ${this.timeoutMs} ms`);
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Until the read models have applied everything in the log as it is now. */
  async reachHead(signal?: AbortSignal): Promise<void> {
    await this.reach(await this.events.headPosition(), signal);
  }
}
