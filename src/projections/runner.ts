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

/**
 * A consistent cut of the read models: every projection has applied exactly
 * the events up to `position` (the event `eventId`), and nothing after it.
 * `previous` is the position of the event before it (undefined: it is the
 * first event of the log), so that a later start can check that its log still
 * holds this very event at this position.
 */
export interface ReadModelCut {
  readonly position: GlobalPosition;
  readonly eventId: string;
  readonly previous?: GlobalPosition;
  /** Events up to the cut that the read models passed over because this version cannot read them. */
  readonly skipped: number;
}

/** What a saved snapshot put back into the read models: every projection stands at `cut.position`. */
export interface RestoredReadModels {
  readonly cut: ReadModelCut;
}

/** How the read models were saved and put back (src/infra/memory/read-model-snapshot.ts), as /readyz shows it. */
export interface ReadModelSnapshotStatus {
  /** True when this start loaded a snapshot and replayed only the events after it. */
  readonly restored: boolean;
  /** The position the loaded snapshot stood at. */
  readonly restoredPosition?: string;
  /** Why no snapshot was loaded (none yet, another projection version, another log, unreadable file). */
  readonly reason?: string;
  /** The position of the last snapshot this process wrote. */
  readonly savedPosition?: string;
}

/** Saved read models the runner loads before it follows the log: the in-memory store's snapshot file. */
export interface ReadModelSnapshotSource {
  /**
   * Load the saved read models, if there are usable ones; undefined means the
   * projections start from zero. Never throws for a bad file: it is ignored.
   * `stopping` says the service is closing: give up early.
   */
  restore(stopping: () => boolean): Promise<RestoredReadModels | undefined>;
  /** True when the saved read models are small enough to load before the service starts answering (as quick as a start without). */
  loadsQuickly(): boolean;
  status(): ReadModelSnapshotStatus;
}

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
/**
 * A catch-up gives the event loop a turn after this many events, or sooner once it has held it
 * this long: early in a start, before the code is warm (schemas compiled on first use, functions
 * not yet optimised), 256 events can take a hundred milliseconds or more.
 */
const YIELD_EVERY_EVENTS = 256;
const YIELD_AFTER_MS = 8;
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
  /** The event before `processed`, and that event's id: what a cut names. */
  private previous?: GlobalPosition;
  private previousKnown = true;
  private processedEventId?: string;
  /** True while an event is being applied: a cut waits for the end of it. */
  private applying = false;
  private pendingCuts: Array<() => void> = [];
  /** Events applied since start until the read models were first ready (the tail a snapshot left, or the whole log). */
  private replayed = 0;
  private caughtUp = false;
  private readonly onCaughtUp: Array<() => void> = [];
  private startedAt = Date.now();
  /** Why the start itself failed, if it did (the read models stay unready). */
  private startFailure?: string;
  /** Told of every event once the projections applied it, before writers waiting for it are answered. */
  private readonly observers: Array<(event: RecordedEvent) => void> = [];

  constructor(
    private readonly events: EventStore,
    private readonly readModels: ReadModelStore,
    projections: readonly Projection<any>[],
    private readonly logger: Logger,
    private readonly snapshots?: ReadModelSnapshotSource,
  ) {
    this.states = projections.map((projection) => ({ projection, collection: readModels.collection(projection.collection) }));
  }

  /**
   * Start following the log. With a snapshot source, the saved read models are
   * loaded in the background (the service answers /healthz meanwhile), and
   * only the events after them are applied.
   */
  async start(): Promise<void> {
    this.startedAt = Date.now();
    if (!this.snapshots) {
      await this.prepare(undefined);
      this.loop = this.consume();
      return;
    }
    this.readyAt = await this.events.headPosition();
    let prepared!: () => void;
    const preparing = new Promise<void>((resolve) => (prepared = resolve));
    this.loop = this.restoreThenConsume(this.snapshots, prepared);
    // A small snapshot is in before the service answers, as a start without one would be; a large one loads in the background.
    if (this.snapshots.loadsQuickly()) await preparing;
  }

  private async restoreThenConsume(snapshots: ReadModelSnapshotSource, prepared: () => void): Promise<void> {
    try {
      // Indexes first: the load then fills them document by document, a page per turn, instead of in one long loop after it.
      for (const state of this.states) await this.readModels.ensureIndexes(state.projection.collection, state.projection.indexes);
      const restored = await snapshots.restore(() => this.stopping);
      if (this.stopping) return;
      await this.prepare(restored);
    } catch (error) {
      this.startFailure = `could not prepare the read models: ${(error as Error).message}`;
      this.logger.error({ err: error }, 'read models could not start');
      return;
    } finally {
      prepared();
    }
    await this.consume();
  }

  /** Indexes, and each projection's starting point: the restored cut, its saved checkpoint, or zero (its collection cleared). */
  private async prepare(restored: RestoredReadModels | undefined): Promise<void> {
    for (const state of this.states) {
      await this.readModels.ensureIndexes(state.projection.collection, state.projection.indexes);
      const saved = restored
        ? positionToString(restored.cut.position)
        : this.readModels.ephemeral
          ? undefined
          : await this.readModels.getCheckpoint(state.projection.name);
      if (saved === undefined) await this.readModels.clear([state.projection.collection]);
      else state.checkpoint = parsePosition(saved);
    }
    this.readyAt = await this.events.headPosition();
    const from = this.states.every((s) => s.checkpoint)
      ? this.states.map((s) => s.checkpoint!).reduce((a, b) => (comparePositions(a, b) <= 0 ? a : b))
      : undefined;
    this.processed = from;
    if (restored) {
      this.previous = restored.cut.previous;
      this.processedEventId = restored.cut.eventId;
    }
    // From a saved checkpoint without a cut, the event before it is not known until the next one is applied.
    this.previousKnown = from === undefined || restored !== undefined;
    this.started = true;
    this.noteCaughtUp();
    // Writers that waited while a snapshot was loading may already be served by it.
    this.resolveWaiters();
  }

  private resolveWaiters(): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (!this.reached(waiter.position)) return true;
      waiter.resolve(true);
      return false;
    });
  }

  /** Resolves once the read models have first caught up with the log (when the service is first ready). */
  caughtUpWithLog(): Promise<void> {
    if (this.caughtUp) return Promise.resolve();
    return new Promise((resolve) => this.onCaughtUp.push(resolve));
  }

  private noteCaughtUp(): void {
    if (this.caughtUp || !this.started || (this.readyAt !== undefined && !this.reached(this.readyAt))) return;
    this.caughtUp = true;
    for (const resolve of this.onCaughtUp.splice(0)) resolve();
    this.logger.info(
      { replayedEvents: this.replayed, ms: Date.now() - this.startedAt, position: this.processed && positionToString(this.processed), snapshot: this.snapshots?.status() },
      'read models caught up with the log',
    );
  }

  /**
   * Run `capture` at a consistent cut: between two events, never while one is
   * being applied, with every projection at the same position. Undefined (and
   * `capture` not run) when there is no such cut: not started, nothing
   * applied yet, a projection failed, or checkpoints that differ.
   */
  atConsistentCut<T>(capture: (cut: ReadModelCut) => T): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const run = () => {
        try {
          const cut = this.cut();
          resolve(cut === undefined ? undefined : capture(cut));
        } catch (error) {
          reject(error);
        }
      };
      if (this.applying) this.pendingCuts.push(run);
      else run();
    });
  }

  private cut(): ReadModelCut | undefined {
    const position = this.processed;
    if (!this.started || position === undefined || this.processedEventId === undefined || !this.previousKnown) return undefined;
    if (this.states.some((s) => s.failure || !s.checkpoint || comparePositions(s.checkpoint, position) !== 0)) return undefined;
    return { position, eventId: this.processedEventId, previous: this.previous, skipped: this.skipped };
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
        let turnStarted = performance.now();
        for await (const event of subscription) {
          await this.apply(event);
          if (this.subscriptionDown !== undefined) {
            this.logger.info('projection subscription restored');
            this.subscriptionDown = undefined;
          }
          pauseMs = RESUBSCRIBE_FIRST_PAUSE_MS;
          // A catch-up over a long log would otherwise hold the event loop for seconds:
          // let requests (/healthz, /readyz with its progress) in between pages of events.
          if (++sinceYield >= YIELD_EVERY_EVENTS || ((sinceYield & 15) === 0 && performance.now() - turnStarted > YIELD_AFTER_MS)) {
            sinceYield = 0;
            await new Promise((resolve) => setImmediate(resolve));
            turnStarted = performance.now();
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
    this.applying = true;
    try {
      await this.applyToAll(event);
    } finally {
      this.applying = false;
      // Cuts asked for meanwhile run now, before the next event.
      for (const run of this.pendingCuts.splice(0)) run();
    }
  }

  private async applyToAll(event: RecordedEvent): Promise<void> {
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
    if (this.processed === undefined || comparePositions(event.position, this.processed) > 0) {
      this.previous = this.processed;
      this.previousKnown = true;
      this.processed = event.position;
      this.processedEventId = event.metadata.eventId;
    }
    if (!this.caughtUp) {
      this.replayed += 1;
      this.noteCaughtUp();
    }
    if (!unreadable) this.tellObservers(event);
    this.scheduleCheckpointFlush();
    this.resolveWaiters();
  }

  /**
   * Have `observer` told of every event right after the projections applied it and
   * before any writer waiting for it is answered: a cache kept beside the read models
   * (src/projections/sessions/live-tokens.ts) changes with them. It must not throw or wait.
   */
  observe(observer: (event: RecordedEvent) => void): void {
    this.observers.push(observer);
  }

  private tellObservers(event: RecordedEvent): void {
    for (const observer of this.observers) {
      try {
        observer(event);
      } catch (error) {
        this.logger.error({ err: error, eventType: event.type }, 'a read-model observer failed');
      }
    }
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

  /** Whether every projection has applied the event at `position` (read-your-writes). */
  hasApplied(position: GlobalPosition): boolean {
    return this.reached(position);
  }

  /** The last event the read models applied; undefined before the first. */
  get appliedPosition(): GlobalPosition | undefined {
    return this.processed;
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
  status(): {
    ready: boolean;
    position?: string;
    target?: string;
    failures: Record<string, string>;
    skipped: number;
    replayedEvents: number;
    snapshot?: ReadModelSnapshotStatus;
  } {
    const failures: Record<string, string> = Object.fromEntries(
      this.states.filter((s) => s.failure).map((s) => [s.projection.name, s.failure!]),
    );
    if (this.subscriptionDown !== undefined) failures.subscription = this.subscriptionDown;
    if (this.startFailure !== undefined) failures.start = this.startFailure;
    const caughtUp = this.started && (this.readyAt === undefined || this.reached(this.readyAt));
    return {
      ready: caughtUp && Object.keys(failures).length === 0,
      position: this.processed && positionToString(this.processed),
      target: this.readyAt && positionToString(this.readyAt),
      failures,
      skipped: this.skipped,
      replayedEvents: this.replayed,
      snapshot: this.snapshots?.status(),
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
