import { v4 as uuidv4 } from 'uuid';
import type { Logger } from 'pino';
import { makePersonKeys, type PersonKeyStore } from './person-keys.js';

/** Ids made ahead, with their keys, per durable write. */
export const KEYED_ID_BATCH = 256;

/**
 * New users' ids whose data keys already exist (docs/crypto-shredding.md,
 * Keys made ahead). A person's first event used to make their key on the way:
 * a durable write of the key file (an fsync, on the event loop with SQLite)
 * before the event's own. Here ids are drawn ahead, KEYED_ID_BATCH at a time,
 * and their keys made in one durable write, off any request's path; `take`
 * hands one out, so that creating a user finds its key made.
 *
 * - Each id is a random UUID (as the user commands drew before), handed out
 *   once. The ids waiting are held in memory only: a restart draws new ones,
 *   so an id given out before a crash is never given out again.
 * - An id never used (a failed create, a restart) leaves a key that seals
 *   nothing: a random 32 bytes, wrapped, under an id no event names. At most
 *   one batch per process start.
 * - When none is ready, `take` draws a plain id: the key is then made with the
 *   user's first event, as before.
 */
export class KeyedIdPool {
  private ready: string[] = [];
  private making: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly keys: PersonKeyStore,
    private readonly logger?: Logger,
    private readonly batch = KEYED_ID_BATCH,
  ) {}

  /** A new person's id: one whose key is made when there is one ready, else a fresh one. Starts the next batch when half are gone. */
  take(): string {
    const id = this.ready.pop();
    if (this.ready.length <= this.batch / 2) this.refill();
    return id ?? uuidv4();
  }

  /** How many ids with their keys are ready. */
  get size(): number {
    return this.ready.length;
  }

  /** Make the next batch (one durable write), unless one is on its way; resolves when it is ready. */
  refill(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.making ??= this.makeBatch().finally(() => {
      this.making = undefined;
    });
    return this.making;
  }

  private async makeBatch(): Promise<void> {
    const ids = Array.from({ length: this.batch }, () => uuidv4());
    try {
      await makePersonKeys(this.keys, ids);
    } catch (error) {
      // Nothing handed out depends on it: `take` draws plain ids meanwhile, and the next take tries again.
      this.logger?.warn({ err: error }, 'the keys of new persons could not be made ahead');
      return;
    }
    if (!this.closed) this.ready.push(...ids);
  }

  /** Stop making keys; waits for a batch on its way (before the key store closes). */
  async close(): Promise<void> {
    this.closed = true;
    await this.making;
    this.ready = [];
  }
}
