import { once } from 'node:events';
import { setTimeout as sleep, setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { comparePositions, type EventStore, type GlobalPosition, type RecordedEvent, type Subscription } from '../../ports/event-store.js';
import { SqliteEventStore } from '../sqlite/sqlite-event-store.js';
import type { LedgerWorkerData, LedgerWorkerReply, LedgerWorkerRequest } from './ledger-worker.js';
import type { SqliteMerkleTree } from './sqlite-merkle-tree.js';

/** Leaves hashed per transaction at most. */
const BATCH = 2000;
/**
 * How long the builder gathers events before a transaction: one transaction per
 * turn of the event loop meant one per group commit of the log, each rewriting the
 * right edge's pages (about one per level) in the WAL. A leaf is in the tree at
 * most this much later.
 */
const FLUSH_AFTER_MS = 20;

export interface LedgerBuilderOptions {
  /** How long events are gathered per transaction; 0: a transaction per turn of the event loop (as before; bench:ledger compares). */
  readonly flushAfterMs?: number;
  /**
   * Where leaves are hashed and the tree written. `worker` (the default): a worker thread
   * (ledger-worker.ts) with its own connection to the tree's file; on the embedded store it reads
   * the events from the file itself, so nothing per event crosses threads. `main`: on the event
   * loop, as before (bench:ledger compares).
   */
  readonly thread?: 'worker' | 'main';
}

/**
 * Tails the log as stored (the adapter itself, not the upcasting wrapper:
 * the tree hashes what is written) and adds each event to the Merkle tree,
 * a batch per transaction, in a worker thread. Resumes after the tree's
 * newest leaf. The tree object given here (the routes' and the tree heads')
 * only reads; it learns the size from the worker.
 */
export class LedgerBuilder {
  private stopped = false;
  private running: Promise<void> | undefined;
  private subscription: Subscription | undefined;
  private worker: Worker | undefined;
  private workerStopped: Promise<unknown> | undefined;
  private readonly waiters = new Set<{ position: GlobalPosition; resolve: () => void }>();
  /** How far the tree has read the log, as this thread knows it (the worker's file may be a moment ahead). */
  private head: GlobalPosition | undefined;
  private readonly flushAfterMs: number;
  private readonly thread: 'worker' | 'main';

  constructor(
    private readonly events: EventStore,
    private readonly tree: SqliteMerkleTree,
    private readonly logger: Logger,
    options: LedgerBuilderOptions = {},
  ) {
    this.flushAfterMs = options.flushAfterMs ?? FLUSH_AFTER_MS;
    this.thread = options.thread ?? 'worker';
    this.head = tree.checkpoint();
  }

  start(): void {
    this.running ??= this.run().catch((error: unknown) => this.logger.error({ err: error }, 'the ledger builder stopped'));
  }

  private reached(head: GlobalPosition): void {
    if (!this.head || comparePositions(head, this.head) > 0) this.head = head;
    for (const waiter of this.waiters) {
      if (comparePositions(waiter.position, head) <= 0) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** The worker thread, and how a batch reaches it: the last position (it reads the file) or the events themselves. */
  private startWorker(): { post: (events: RecordedEvent[]) => void; upTo: ((position: GlobalPosition) => void) | undefined } {
    const readsFile = this.events instanceof SqliteEventStore && this.events.filename !== ':memory:';
    const data: LedgerWorkerData = {
      ledgerFile: this.tree.filename,
      ...(readsFile ? { eventsFile: (this.events as SqliteEventStore).filename } : {}),
      ...(this.tree.synchronous ? { synchronous: this.tree.synchronous } : {}),
    };
    const worker = new Worker(new URL('./ledger-worker.js', import.meta.url), { workerData: data });
    this.worker = worker;
    this.workerStopped = once(worker, 'exit');
    // A builder never stopped does not hold the process open (the tree resumes from its newest leaf); stop() holds it.
    worker.unref();
    worker.on('message', (reply: LedgerWorkerReply) => {
      if (reply.kind === 'appended') {
        this.tree.grewTo(reply.size);
        if (reply.reached) this.reached(reply.reached);
      } else if (reply.kind === 'failed') {
        this.logger.error({ err: new Error(reply.message) }, 'the ledger builder could not add leaves');
      }
    });
    worker.on('error', (error) => this.logger.error({ err: error }, 'the ledger worker stopped'));
    const send = (request: LedgerWorkerRequest) => worker.postMessage(request);
    const upTo = (position: GlobalPosition) => send({ kind: 'upTo', position });
    return {
      upTo: readsFile ? upTo : undefined,
      post: readsFile ? (events) => upTo(events[events.length - 1]!.position) : (events) => send({ kind: 'events', events }),
    };
  }

  private async run(): Promise<void> {
    let checkpoint = this.tree.checkpoint();
    let append = (events: RecordedEvent[]) => {
      this.tree.append(events);
      this.reached(events[events.length - 1]!.position);
    };
    if (this.thread === 'worker') {
      const worker = this.startWorker();
      append = worker.post;
      if (worker.upTo) {
        // Catching up is the worker's alone: it reads the rows, the subscription starts at the head.
        const head = await this.events.headPosition();
        if (head && (!checkpoint || comparePositions(head, checkpoint) > 0)) {
          worker.upTo(head);
          checkpoint = head;
        }
      }
    }
    const subscription = this.events.subscribeToAll(checkpoint ? { after: checkpoint } : {});
    this.subscription = subscription;
    let batch: RecordedEvent[] = [];
    let flushing: Promise<void> | undefined;
    const flush = () => {
      const events = batch;
      batch = [];
      append(events);
    };
    try {
      for await (const event of subscription) {
        if (this.stopped) break;
        batch.push(event);
        if (batch.length >= BATCH) {
          flush();
          await yieldToEventLoop();
        } else {
          // Whatever the subscription delivers meanwhile goes in one transaction.
          flushing ??= (this.flushAfterMs > 0 ? sleep(this.flushAfterMs) : yieldToEventLoop()).then(() => {
            flushing = undefined;
            if (batch.length > 0) flush();
          }).catch((error: unknown) => this.logger.error({ err: error }, 'the ledger builder could not add leaves'));
        }
      }
    } finally {
      await subscription.close();
      if (batch.length > 0) flush();
    }
  }

  /** Wait (bounded) until the event at `position` is a leaf. */
  async waitFor(position: GlobalPosition | undefined, timeoutMs: number): Promise<boolean> {
    if (!position) return true;
    const head = this.head;
    if (head && comparePositions(position, head) <= 0) return true;
    return new Promise<boolean>((resolve) => {
      const waiter = {
        position,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.subscription?.close();
    await this.running;
    if (this.worker) {
      // A catch-up from the file ends after its current transaction (the tree resumes from its newest leaf); events
      // posted as messages are applied first. The worker then closes its files and exits.
      this.worker.ref();
      this.worker.postMessage({ kind: 'stop' } satisfies LedgerWorkerRequest);
      await this.workerStopped;
      this.worker = undefined;
    }
  }
}
