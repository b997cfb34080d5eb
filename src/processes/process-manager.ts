import type { Logger } from 'pino';
import { isUnreadable } from '../domain/upcasting.js';
import { ConcurrencyError, DomainError } from '../domain/shared/errors.js';
import type { CommandMetadata } from '../domain/shared/decider.js';
import type { CheckpointStore } from '../ports/checkpoints.js';
import type { EventStore, GlobalPosition, RecordedEvent, Subscription } from '../ports/event-store.js';

/** The metadata of a command a process runs because of an event: same correlation, caused by that event. */
export const causedBy = (event: RecordedEvent, now = new Date()): CommandMetadata => ({
  now,
  actor: { subject: 'system', kind: 'system' },
  correlationId: event.metadata.correlationId,
  causationId: event.metadata.eventId,
});

/** What a handler gets besides its event: a signal that fires when the service stops, so a long step can end early. */
export interface StepContext {
  readonly signal: AbortSignal;
}

// The log hands over any event; each handler names the one type it is registered for.
export type ProcessHandler = (event: RecordedEvent<any, any>, context: StepContext) => Promise<void>;

export interface ProcessDefinition {
  /** Also the name of its checkpoint. */
  readonly name: string;
  /** Handlers must be idempotent: after a crash, the events since the last checkpoint come again. */
  readonly handlers: Readonly<Record<string, ProcessHandler>>;
  /**
   * Records, in the log, that a step failed for good (a domain error, or still
   * failing after the last attempt), so that the resource's status says error
   * rather than a process that hangs. Without it the failure is only logged.
   */
  readonly onFailure?: (event: RecordedEvent<any, any>, reason: string) => Promise<void>;
}

export interface ProcessOptions {
  /** Attempts per step before it counts as failed for good. */
  readonly maxAttempts?: number;
  /** The first retry waits this long; each later one waits longer (linearly, capped at 10 s). */
  readonly retryDelayMs?: number;
  /** The checkpoint is written at most this often: each write is an fsync, and a replay is harmless. */
  readonly checkpointIntervalMs?: number;
}

const DEFAULTS = { maxAttempts: 8, retryDelayMs: 250, checkpointIntervalMs: 1000 };

/**
 * A domain error says the command cannot succeed on this state (not found,
 * invalid, forbidden, conflict): trying again would only delay the failure.
 * Losing a race (ConcurrencyError) or an I/O error may well pass.
 */
export const isPermanent = (error: unknown): boolean => error instanceof DomainError && !(error instanceof ConcurrencyError);

const describe = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

class Stopped extends Error {}

/**
 * Runs a process manager: a subscription to the log from its own durable
 * checkpoint, turning events into commands. The checkpoint moves only past
 * events whose step finished (done, or failed for good and recorded), so a
 * crash skips nothing; it may replay a few, which idempotent handlers absorb.
 */
export class ProcessManagerRunner {
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private readonly stopping = new AbortController();
  private readonly options: Required<ProcessOptions>;
  /** The last finished position not yet written, and the timer that will write it. */
  private unsaved?: GlobalPosition;
  private saveTimer?: NodeJS.Timeout;
  /** Events passed over because this version cannot read them. */
  private skippedEvents = 0;
  /** The last finished event (or the saved checkpoint): where a new subscription starts. */
  private position?: GlobalPosition;

  constructor(
    private readonly definition: ProcessDefinition,
    private readonly events: EventStore,
    private readonly checkpoints: CheckpointStore,
    private readonly logger: Logger,
    options: ProcessOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  async start(): Promise<void> {
    this.position = await this.checkpoints.load(this.definition.name);
    this.loop = this.consume();
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /**
   * Follow the log from the last finished event. A subscription that fails or
   * ends (a dropped connection to the event store) is opened again from there,
   * after a pause that doubles up to 5 s.
   */
  private async consume(): Promise<void> {
    let pauseMs = 100;
    while (!this.stopped) {
      const subscription = this.events.subscribeToAll({ after: this.position });
      this.subscription = subscription;
      try {
        for await (const event of subscription) {
          // An event this version cannot read was reported where it was read: no
          // command can follow from it, and the checkpoint moves past it.
          const handler = isUnreadable(event) ? undefined : this.definition.handlers[event.type];
          if (isUnreadable(event)) this.skippedEvents += 1;
          if (handler) await this.step(handler, event);
          if (this.stopped) return;
          this.finished(event.position);
          pauseMs = 100;
        }
        if (this.stopped) return;
        this.logger.error({ process: this.definition.name, retryInMs: pauseMs }, 'process subscription ended; resubscribing');
      } catch (error) {
        if (error instanceof Stopped || this.stopped) return;
        this.logger.error({ err: error, process: this.definition.name, retryInMs: pauseMs }, 'process subscription failed; resubscribing');
      }
      try {
        await this.pause(pauseMs);
      } catch {
        return; // stopping
      }
      pauseMs = Math.min(pauseMs * 2, 5_000);
    }
  }

  /** Run one step: retry what may pass, record what cannot. Throws Stopped when the service stops meanwhile. */
  private async step(handler: ProcessHandler, event: RecordedEvent): Promise<void> {
    const log = { process: this.definition.name, eventType: event.type, position: `${event.position.commit}` };
    for (let attempt = 1; ; attempt++) {
      try {
        return await handler(event, { signal: this.stopping.signal });
      } catch (error) {
        if (this.stopped) throw new Stopped();
        if (isPermanent(error) || attempt >= this.options.maxAttempts) {
          this.logger.error({ ...log, err: error, attempt }, 'process step failed for good');
          return this.recordFailure(event, describe(error));
        }
        this.logger.warn({ ...log, err: error, attempt }, 'process step failed; retrying');
        await this.pause(Math.min(this.options.retryDelayMs * attempt, 10_000));
      }
    }
  }

  /** The failure must reach the log before the process moves on, so this one retries until it does (or the service stops). */
  private async recordFailure(event: RecordedEvent, reason: string): Promise<void> {
    if (!this.definition.onFailure) return;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.definition.onFailure(event, reason);
      } catch (error) {
        if (this.stopped) throw new Stopped();
        this.logger.warn({ err: error, process: this.definition.name, attempt }, 'could not record a failed step; retrying');
        await this.pause(Math.min(this.options.retryDelayMs * attempt, 10_000));
      }
    }
  }

  private pause(ms: number): Promise<void> {
    const signal = this.stopping.signal;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(new Stopped());
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private finished(position: GlobalPosition): void {
    this.position = position;
    this.unsaved = position;
    this.saveTimer ??= setTimeout(() => {
      this.saveTimer = undefined;
      void this.saveCheckpoint();
    }, this.options.checkpointIntervalMs);
  }

  private async saveCheckpoint(): Promise<void> {
    const position = this.unsaved;
    if (!position) return;
    this.unsaved = undefined;
    try {
      await this.checkpoints.save(this.definition.name, position);
    } catch (error) {
      // Not fatal: the events since the last saved checkpoint come again after a restart.
      this.logger.warn({ err: error, process: this.definition.name }, 'could not save the checkpoint');
    }
  }

  /** The last event this process finished (or its saved checkpoint): its lag is the log's head minus this. */
  get finishedPosition(): GlobalPosition | undefined {
    return this.position;
  }

  /** The process's name (its checkpoint's and its lease's). */
  get name(): string {
    return this.definition.name;
  }

  /** How many events this process passed over because this version cannot read them. */
  get skipped(): number {
    return this.skippedEvents;
  }

  /**
   * Stop; the finished position is written unless `saveCheckpoint` is false: a
   * runner whose lease was lost (docs/cluster.md) writes nothing, since another
   * instance may already have moved the checkpoint further.
   */
  async stop(options: { saveCheckpoint?: boolean } = {}): Promise<void> {
    this.stopping.abort();
    await this.subscription?.close();
    await this.loop;
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (options.saveCheckpoint === false) this.unsaved = undefined;
    await this.saveCheckpoint();
  }
}
