/**
 * The key file's writer thread (key-maker-thread.ts): makes persons' data keys
 * in one durable write of `person-keys.sqlite` per request, so that the event
 * loop pays neither the wrapping nor the fsync. Each request is a list of
 * persons; those with a key already, or erased, are skipped. The keys made
 * come back in one transferred buffer (32 bytes each, in the order of `made`):
 * the bytes move to the main thread, none stays here.
 */
import { randomFillSync } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { KEY_BYTES, openKeyFile, wrapPersonKey } from './person-keys.js';

export interface KeyMakerData {
  readonly filename: string;
  readonly wrappingKey: Uint8Array;
}

export interface KeyMakerRequest {
  readonly id: number;
  readonly personIds: readonly string[];
}

export type KeyMakerReply =
  | { readonly id: number; readonly made: readonly string[]; readonly keys: ArrayBuffer }
  | { readonly id: number; readonly error: string };

const port = parentPort;
if (!port) throw new Error('key-maker-worker.js runs as a worker thread');
const { filename, wrappingKey } = workerData as KeyMakerData;
const db = openKeyFile(filename);
const hasKey = db.prepare<[string], unknown>('SELECT 1 FROM person_keys WHERE person_id = ?');
const erased = db.prepare<[string], unknown>('SELECT 1 FROM erased_persons WHERE person_id = ?');
const insert = db.prepare<[string, Buffer, number]>('INSERT INTO person_keys (person_id, wrapped, created_at) VALUES (?, ?, ?)');

port.on('message', ({ id, personIds }: KeyMakerRequest) => {
  const keys = new Uint8Array(personIds.length * KEY_BYTES);
  const made: string[] = [];
  try {
    db.transaction(() => {
      const now = Date.now();
      for (const personId of personIds) {
        if (hasKey.get(personId) || erased.get(personId)) continue;
        const key = keys.subarray(made.length * KEY_BYTES, (made.length + 1) * KEY_BYTES);
        randomFillSync(key);
        // wrapPersonKey zeroes the copy it is given.
        insert.run(personId, wrapPersonKey(wrappingKey, personId, Buffer.from(key)), now);
        made.push(personId);
      }
    }).immediate();
  } catch (error) {
    keys.fill(0);
    port.postMessage({ id, error: error instanceof Error ? error.message : String(error) } satisfies KeyMakerReply);
    return;
  }
  port.postMessage({ id, made, keys: keys.buffer } satisfies KeyMakerReply, [keys.buffer]);
});
