/**
 * A worker thread of the offline verifier (verifier.ts, `hashThreads`): it
 * opens events.sqlite read-only and answers, for a range of positions, each
 * row's position and leaf hash (canonical JSON + SHA-256, as the tree was
 * built). Typed arrays go back (transferred, not copied), so the main thread
 * only compares hashes and grows the tree.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { eventLeafHash } from '../../domain/ledger/leaf.js';
import { TOMBSTONE_EVENT_TYPE, type TombstoneData } from '../../domain/retention.js';

export interface LeafHashWorkerData {
  readonly eventsFile: string;
}

/** Rows with position in (after, upTo]. */
export interface LeafHashRequest {
  readonly id: number;
  readonly after: number;
  readonly upTo: number;
}

/** What a row is: its leaf hash computed, a tombstone with the leaf hash it kept, one without, or not JSON. */
export const ROW_HASHED = 0;
export const ROW_TOMBSTONE_KEPT = 1;
export const ROW_TOMBSTONE_BARE = 2;
export const ROW_INVALID = 3;

export interface LeafHashReply {
  readonly id: number;
  readonly positions: Float64Array;
  readonly kinds: Uint8Array;
  /** 32 bytes per row (zero for a bare tombstone or an invalid row). */
  readonly hashes: Uint8Array;
  readonly error?: string;
}

const HASH_BYTES = 32;

if (parentPort) {
  const port = parentPort;
  const { eventsFile } = workerData as LeafHashWorkerData;
  const db = new Database(eventsFile, { readonly: true, fileMustExist: true });
  const select = db.prepare('SELECT position, stream_name, revision, type, data, metadata FROM events WHERE position > ? AND position <= ? ORDER BY position');
  port.on('message', (request: LeafHashRequest | 'stop') => {
    if (request === 'stop') {
      db.close();
      port.close();
      return;
    }
    try {
      const rows = select.all(request.after, request.upTo) as Array<{ position: number; stream_name: string; revision: number; type: string; data: string; metadata: string }>;
      const positions = new Float64Array(rows.length);
      const kinds = new Uint8Array(rows.length);
      const hashes = new Uint8Array(rows.length * HASH_BYTES);
      rows.forEach((row, i) => {
        positions[i] = row.position;
        try {
          if (row.type === TOMBSTONE_EVENT_TYPE) {
            const kept = (JSON.parse(row.data) as TombstoneData).leafHash;
            kinds[i] = kept === undefined ? ROW_TOMBSTONE_BARE : ROW_TOMBSTONE_KEPT;
            const bytes = kept === undefined ? undefined : Buffer.from(kept, 'base64');
            if (bytes?.length === HASH_BYTES) hashes.set(bytes, i * HASH_BYTES); // another length stays zeros: it matches no leaf
            return;
          }
          const position = BigInt(row.position);
          const hash = eventLeafHash({
            position: { commit: position, prepare: position },
            streamName: row.stream_name,
            revision: row.revision,
            type: row.type,
            data: JSON.parse(row.data),
            metadata: JSON.parse(row.metadata),
          });
          hashes.set(hash, i * HASH_BYTES);
          kinds[i] = ROW_HASHED;
        } catch {
          kinds[i] = ROW_INVALID;
        }
      });
      const reply: LeafHashReply = { id: request.id, positions, kinds, hashes };
      port.postMessage(reply, [positions.buffer, kinds.buffer, hashes.buffer]);
    } catch (error) {
      port.postMessage({ id: request.id, positions: new Float64Array(0), kinds: new Uint8Array(0), hashes: new Uint8Array(0), error: error instanceof Error ? error.message : String(error) } satisfies LeafHashReply);
    }
  });
}
