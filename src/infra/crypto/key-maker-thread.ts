import { Worker } from 'node:worker_threads';
import type { KeyMakerData, KeyMakerReply, KeyMakerRequest } from './key-maker-worker.js';

/** An AES-256 data key, as person-keys.ts makes them (not imported from there: that file imports this one). */
const KEY_BYTES = 32;

/**
 * Makes persons' data keys on a worker thread (key-maker-worker.ts), with its
 * own connection to the key file: a batch's wrapping and its durable commit
 * (an fsync) no longer hold the event loop that commits the log
 * (docs/crypto-shredding.md, Keys made ahead). Started with the first batch;
 * holds the process open only while a batch is on its way.
 */
export class KeyMakerThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private closed = false;
  private readonly waiting = new Map<number, { resolve: (made: Array<[string, Buffer]>) => void; reject: (error: Error) => void }>();

  constructor(private readonly data: KeyMakerData) {}

  /** Make the keys of these persons who have none and were never erased, in one durable write: those made, with their keys. */
  make(personIds: readonly string[]): Promise<Array<[string, Buffer]>> {
    if (this.closed) return Promise.reject(new Error('person-keys.sqlite is closed'));
    const worker = (this.worker ??= this.start());
    const id = (this.nextId += 1);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, personIds } satisfies KeyMakerRequest);
    });
  }

  private start(): Worker {
    const worker = new Worker(new URL('./key-maker-worker.js', import.meta.url), { workerData: this.data });
    worker.unref();
    worker.on('message', (reply: KeyMakerReply) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) worker.unref();
      if (!waiter) return;
      if ('error' in reply) waiter.reject(new Error(`person-keys.sqlite: the keys could not be made: ${reply.error}`));
      else waiter.resolve(reply.made.map((personId, i) => [personId, Buffer.from(reply.keys, i * KEY_BYTES, KEY_BYTES)]));
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(new Error('person-keys.sqlite: the key maker stopped')));
    return worker;
  }

  /** Stop the thread. A batch on its way is refused; whatever it committed is read from the file when needed. */
  close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return Promise.resolve();
    return worker.terminate().then(() => undefined);
  }
}
