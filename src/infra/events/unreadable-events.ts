import type { Logger } from 'pino';
import { UNREADABLE_PROBLEMS, type UnreadableEventData, type UnreadableProblem } from '../../domain/upcasting.js';
import { positionToString, type RecordedEvent } from '../../ports/event-store.js';

/** One event this version could not read, where it is and why. */
export interface UnreadableEventReport extends UnreadableEventData {
  readonly streamName: string;
  readonly revision: number;
  /** The global position, as `/readyz` shows positions (`commit/prepare`). */
  readonly position: string;
}

export interface UnreadableEventsStatus {
  /** Distinct events skipped since the start (each counted once however many readers skipped it). */
  readonly count: number;
  readonly byProblem: Record<UnreadableProblem, number>;
  /** The most recently found one. */
  readonly last?: UnreadableEventReport;
}

/** Positions remembered to count each event once; beyond this many, an event read again may count twice. */
const REMEMBERED = 100_000;

/**
 * The metrics of events this version cannot read: counted once per position,
 * a warning logged the first time each is met, the newest shown by /readyz.
 * Being unreadable never makes the service unready: readers skip such events.
 */
export class UnreadableEvents {
  private readonly seen = new Set<string>();
  private count = 0;
  private readonly byProblem = Object.fromEntries(UNREADABLE_PROBLEMS.map((problem) => [problem, 0])) as Record<UnreadableProblem, number>;
  private last?: UnreadableEventReport;

  constructor(private logger?: Logger) {}

  /** Where warnings go (the service's logger, once it has one). */
  useLogger(logger: Logger): void {
    this.logger = logger;
  }

  report(event: RecordedEvent, unreadable: UnreadableEventData): void {
    const position = positionToString(event.position);
    if (this.seen.has(position)) return;
    if (this.seen.size >= REMEMBERED) this.seen.clear();
    this.seen.add(position);
    this.count += 1;
    this.byProblem[unreadable.problem] += 1;
    this.last = { ...unreadable, streamName: event.streamName, revision: event.revision, position };
    this.logger?.warn(
      {
        streamName: event.streamName,
        revision: event.revision,
        position,
        eventType: unreadable.type,
        schemaVersion: unreadable.schemaVersion,
        problem: unreadable.problem,
        detail: unreadable.detail,
      },
      'skipped an event this version cannot read',
    );
  }

  status(): UnreadableEventsStatus {
    return { count: this.count, byProblem: { ...this.byProblem }, ...(this.last && { last: this.last }) };
  }
}
