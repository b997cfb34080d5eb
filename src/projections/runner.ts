import type { Logger } from 'pino';
import { isUnreadable } from '../domain/upcasting.js';
import {
  comparePositions,
  type EventStore,
  type GlobalPosition,
  parsePosition,
  positionToString,
  type RecordedEvent,
  type Subscription,
} from '../ports/event-store.js';
import type { Collection, Document, ReadModelStore } from '../ports/read-models.js';
import { isTransientStoreError } from '../ports/transient-errors.js';
import type { Projection, ProjectionDocuments } from './projection.js';

interface ProjectionState {
  readonly projection: Projection<any>;
  readonly collection: Collection;
  checkpoint?: GlobalPosition;
  failure?: string;
}

interface Waiter {
  readonly position: GlobalPosition;
  resolve(reached: boolean): void;
}

const CHECKPOINT_FLUSH_MS = 200;

/** Apply one event to one projection's documents, skipping documents that have already seen it. */
function documentsAt(collection: Collection, position: GlobalPosition): ProjectionDocuments<Document> {
  const update = async (id: string, change: (current: Document | undefined) => Document | undefined) => {
    const current = await collection.findById(id);
    if (current?._position !== undefined && comparePositions(parsePosition(current._position), position) >= 0) return;
    const next = change(current);
    if (next === undefined) {
      if (current) await collection.delete(id, positionToString(position));
      return;
    }
    await collection.put({ ...next, _id: id, _position: positionToString(position) });
  };
  return {
    update,
    async updateWhere(filter, change) {
      for (const doc of await collection.find(filter)) await update(doc._id, (current) => current && change(current));
    },
  };
}

/** Apply one event to one projection; safe to repeat (documents that saw it already are left alone). */
export async function applyToProjection(projection: Projection<any>, collection: Collection, event: RecordedEvent): Promise<void> {
  const handler = projection.handlers[event.type];
  if (handler) await handler(event, documentsAt(collection, event.position));
}

/**
 * Feeds every projection from one subscription to the log. Each projection
 * has its own checkpoint; writers can wait until the projections have applied
 * their events, so that a read right after a write sees it.
 */
/** How many events a catch-up applies between two turns of the event loop. */
const YIELD_EVERY_EVENTS = 256;
/** Pauses before opening a failed subscription again. */
const RESUBSCRIBE_FIRST_PAUSE_MS = 100;
const RESUBSCRIBE_MAX_PAUSE_MS = 5_000;

export class ProjectionRunner {
  private readonly states: ProjectionState[];
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private waiters: Waiter[] = [];
  private processed?: GlobalPosition;
  private readyAt?: GlobalPosition;
  private started = false;
  private checkpointTimer?: NodeJS.Timeout;
  /** Events passed over because this version cannot read them. */
  private skipped = 0;
  /** Why the subscription is down, while it is: the read models are behind, so not ready. */
  private subscriptionDown?: string;
  private stopping = false;
  /** Ends a pause before resubscribing, when stopping. */
  private wakeUp?: () => void;

  constructor(
    private readonly events: EventStore,
    private readonly readModels: ReadModelStore,
    projections: readonly Projection<any>[],
    private readonly logger: Logger,
  ) {
    this.states = projections.map((projection) => ({ projection, collection: readModels.collection(projection.collection) }));
  }

  async start(): Promise<void> {
    for (const state of this.states) {
      await this.readModels.ensureIndexes(state.projection.collection, state.projection.indexes);
      const saved = this.readModels.ephemeral ? undefined : await this.readModels.getCheckpoint(state.projection.name);
      if (saved === undefined) await this.readModels.clear([state.projection.collection]);
      else state.checkpoint = parsePosition(saved);
    }
    this.readyAt = await this.events.headPosition();
    const from = this.states.every((s) => s.checkpoint)
      ? this.states.map((s) => s.checkpoint!).reduce((a, b) => (comparePositions(a, b) <= 0 ? a : b))
      : undefined;
    this.processed = from;
    this.started = true;
    this.loop = this.consume();
  }

  /**
   * Follow the log from the last applied event. A subscription that fails or
   * ends (a dropped connection to the event store) is opened again from where
   * it stopped, after a pause that doubles up to 5 s; meanwhile /readyz says
   * the read models are behind, so revoked tokens are not served from stale data.
   */
  private async consume(): Promise<void> {
    let pauseMs = RESUBSCRIBE_FIRST_PAUSE_MS;
    while (!this.stopping) {
      const subscription = this.events.subscribeToAll({ after: this.processed });
      this.subscription = subscription;
      try {
        let sinceYield = 0;
        for await (const event of subscription) {
          await this.apply(event);
          if (this.subscriptionDown !== undefined) {
            this.logger.info('projection subscription restored');
            this.subscriptionDown = undefined;
          }
          pauseMs = RESUBSCRIBE_FIRST_PAUSE_MS;
          // A catch-up over a long log would otherwise hold the event loop for seconds:
          // let requests (/healthz, /readyz with its progress) in between pages of events.
          if (++sinceYield >= YIELD_EVERY_EVENTS) {
            sinceYield = 0;
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
        if (this.stopping) return;
        this.subscriptionDown = 'the subscription to the log ended';
      } catch (error) {
        if (this.stopping) return;
        this.subscriptionDown = `the subscription to the log failed: ${(error as Error).message}`;
      }
      this.logger.error({ reason: this.subscriptionDown, retryInMs: pauseMs }, 'projection subscription down; resubscribing');
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        setTimeout(resolve, pauseMs).unref();
      });
      pauseMs = Math.min(pauseMs * 2, RESUBSCRIBE_MAX_PAUSE_MS);
    }
  }

  private async apply(event: RecordedEvent): Promise<void> {
    // An event this version cannot read (a newer instance's type or version, or
    // data its schema refuses) was reported where it was read; no projection
    // handles it, and every checkpoint moves past it, so readiness never waits on it.
    const unreadable = isUnreadable(event);
    if (unreadable) this.skipped += 1;
    for (const state of this.states) {
      if (state.failure) continue;
      if (state.checkpoint && comparePositions(event.position, state.checkpoint) <= 0) continue;
      if (unreadable) {
        state.checkpoint = event.position;
        continue;
      }
      try {
        // One projection's writes for one event go to the store together (one bulk write, with MongoDB).
        await this.inBatch(() => applyToProjection(state.projection, state.collection, event));
        state.checkpoint = event.position;
      } catch (error) {
        // The read models' database is unreachable for now (after the adapter's own retries): not this
        // projection's fault. The subscription is opened again from this event after a pause, /readyz 503 meanwhile.
        if (isTransientStoreError(error)) throw error;
        // A projection that cannot apply an event stops, rather than serve a
        // read model that silently diverges from the log; /readyz reports it.
        state.failure = `${event.type} at ${positionToString(event.position)}: ${(error as Error).message}`;
        this.logger.error({ err: error, projection: state.projection.name }, 'projection failed');
      }
    }
    this.processed = event.position;
    this.scheduleCheckpointFlush();
    this.waiters = this.waiters.filter((waiter) => {
      if (comparePositions(waiter.position, event.position) > 0) return true;
      waiter.resolve(true);
      return false;
    });
  }

  private inBatch<R>(fn: () => Promise<R>): Promise<R> {
    return this.readModels.batch ? this.readModels.batch(fn) : fn();
  }

  private scheduleCheckpointFlush(): void {
    if (this.readModels.ephemeral || this.checkpointTimer) return;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      // Not fatal (the next flush, or a restart, catches up), and never an unhandled rejection, which would end the process.
      this.flushCheckpoints().catch((error: unknown) => this.logger.warn({ err: error }, 'could not save the read models\' checkpoints; will try again'));
    }, CHECKPOINT_FLUSH_MS);
  }

  private async flushCheckpoints(): Promise<void> {
    for (const state of this.states) {
      if (state.checkpoint) await this.readModels.setCheckpoint(state.projection.name, positionToString(state.checkpoint));
    }
  }

  private reached(position: GlobalPosition): boolean {
    return this.processed !== undefined && comparePositions(this.processed, position) >= 0;
  }

  /** Resolves true once every projection has applied the event at `position`, false after the timeout. */
  waitFor(position: GlobalPosition | undefined, timeoutMs: number): Promise<boolean> {
    if (position === undefined || this.reached(position)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        position,
        resolve: (reached) => {
          clearTimeout(timer);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Ready once the projections have caught up with the log as it was at start. */
  status(): { ready: boolean; position?: string; target?: string; failures: Record<string, string>; skipped: number } {
    const failures: Record<string, string> = Object.fromEntries(
      this.states.filter((s) => s.failure).map((s) => [s.projection.name, s.failure!]),
    );
    if (this.subscriptionDown !== undefined) failures.subscription = this.subscriptionDown;
    const caughtUp = this.started && (this.readyAt === undefined || this.reached(this.readyAt));
    return {
      ready: caughtUp && Object.keys(failures).length === 0,
      position: this.processed && positionToString(this.processed),
      target: this.readyAt && positionToString(this.readyAt),
      failures,
      skipped: this.skipped,
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.subscription?.close();
    await this.loop;
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    if (this.started) await this.flushCheckpoints();
    for (const waiter of this.waiters) waiter.resolve(false);
    this.waiters = [];
  }

  /**
   * Drop every read model and fold the whole log into them again, page by
   * page, reporting progress. Used by `npm run rebuild`.
   */
  async rebuild(onProgress: (done: number, total: number) => void = () => {}): Promise<number> {
    const head = await this.events.headPosition();
    for (const state of this.states) {
      await this.readModels.ensureIndexes(state.projection.collection, state.projection.indexes);
      await this.readModels.clear([state.projection.collection]);
      await this.readModels.setCheckpoint(state.projection.name, undefined);
      state.checkpoint = undefined;
      state.failure = undefined;
    }
    const total = head ? Number(head.commit) : 0;
    let after: GlobalPosition | undefined;
    let count = 0;
    for (;;) {
      const page = await this.events.readAll({ after, maxCount: 1000 });
      if (page.length === 0) break;
      // A page of events is written with one bulk write per collection (MongoDB).
      await this.inBatch(async () => {
        for (const event of page) await this.apply(event);
      });
      count += page.length;
      after = page[page.length - 1]!.position;
      onProgress(Math.min(Number(after.commit), total), total);
    }
    await this.flushCheckpoints();
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    return count;
  }
}
