import type { CommandMetadata } from '../domain/shared/decider.js';
import type { GlobalPosition } from '../ports/event-store.js';
import type { ProjectionRunner } from '../projections/runner.js';
import type { Caller } from './auth/caller.js';
import { noteWritten } from '../infra/events/written-positions.js';

/** What a write endpoint needs besides its command: metadata for its events, and read-your-writes. */
export class WriteContext {
  constructor(
    private readonly projections: ProjectionRunner,
    private readonly waitMs: number,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  meta(caller: Caller, requestId: string): CommandMetadata {
    return {
      now: this.clock(),
      actor: { subject: caller.subject, kind: caller.kind, ...(caller.kind === 'user' && caller.principalId !== undefined && { id: caller.principalId }) },
      correlationId: requestId,
      causationId: requestId,
    };
  }

  /**
   * Wait (bounded) until the read models have applied the write, so a read right after it sees it;
   * and answer its position in X-Log-Position, so that a read on another instance can ask for it too.
   */
  async settle(position: GlobalPosition | undefined): Promise<void> {
    if (position !== undefined) noteWritten(position);
    await this.projections.waitFor(position, this.waitMs);
  }
}
