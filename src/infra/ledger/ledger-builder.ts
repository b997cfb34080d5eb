import { setTimeout as sleep, setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { comparePositions, type EventStore, type GlobalPosition, type RecordedEvent, type Subscription } from '../../ports/event-store.js';
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

/**
 * Tails the log as stored (the adapter itself, not the upcasting wrapper:
 * the tree hashes what is written) and adds each event to the Merkle tree,
 * a batch per transaction. Resumes after the tree's newest leaf.
 */
export class LedgerBuilder {
  private stopped = false;
  private running: Promise<void> | undefined;
  private subscription: Subscription | undefined;
  private readonly waiters = new Set<{ position: GlobalPosition; resolve: () => void }>();

  constructor(
    private readonly events: EventStore,
    private readonly tree: SqliteMerkleTree,
    private readonly logger: Logger,
    /** 0: a transaction per turn of the event loop (as before; bench:ledger compares). */
    private readonly flushAfterMs = FLUSH_AFTER_MS,
  ) {}

  start(): void {
    this.running ??= this.run().catch((error: unknown) => this.logger.error({ err: error }, 'the ledger builder stopped'));
  }

  private async run(): Promise<void> {
    const checkpoint = this.tree.checkpoint();
    const subscription = this.events.subscribeToAll(checkpoint ? { after: checkpoint } : {});
    this.subscription = subscription;
    let batch: RecordedEvent[] = [];
    let flushing: Promise<void> | undefined;
    const flush = () => {
      const events = batch;
      batch = [];
      this.tree.append(events);
      const head = events[events.length - 1]!.position;
      for (const waiter of this.waiters) {
        if (comparePositions(waiter.position, head) <= 0) {
          this.waiters.delete(waiter);
          waiter.resolve();
        }
      }
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
    const head = this.tree.checkpoint();
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
  }
}
