import type { Logger } from 'pino';
import type { CheckpointStore } from '../ports/checkpoints.js';
import type { EventStore, RecordedEvent, Subscription } from '../ports/event-store.js';

export interface ProcessDefinition {
  /** Also the name of its checkpoint. */
  readonly name: string;
  /** Handlers must be idempotent: after a crash, the events since the last checkpoint come again. */
  readonly handlers: Readonly<Record<string, (event: RecordedEvent<string, any>) => Promise<void>>>;
}

const RETRY_DELAY_MS = 500;

/**
 * Runs a process manager: a subscription to the log from its own durable
 * checkpoint, turning events into commands. The checkpoint moves only after a
 * handler succeeded, so nothing is skipped by a crash.
 */
export class ProcessManagerRunner {
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly definition: ProcessDefinition,
    private readonly events: EventStore,
    private readonly checkpoints: CheckpointStore,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const after = await this.checkpoints.load(this.definition.name);
    this.subscription = this.events.subscribeToAll({ after });
    this.loop = this.consume(this.subscription);
  }

  private async consume(subscription: Subscription): Promise<void> {
    try {
      for await (const event of subscription) {
        const handler = this.definition.handlers[event.type];
        if (!handler) continue;
        await this.runWithRetry(handler, event);
        if (this.stopped) return;
        await this.checkpoints.save(this.definition.name, event.position);
      }
    } catch (error) {
      this.logger.error({ err: error, process: this.definition.name }, 'process manager stopped');
    }
  }

  private async runWithRetry(handler: (event: RecordedEvent) => Promise<void>, event: RecordedEvent): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        return await handler(event);
      } catch (error) {
        this.logger.warn({ err: error, process: this.definition.name, eventType: event.type, attempt }, 'process step failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_DELAY_MS * attempt, 10_000)));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.subscription?.close();
    await this.loop;
  }
}
