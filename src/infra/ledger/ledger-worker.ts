/**
 * The ledger's worker thread (docs/ledger.md, Building): hashes the leaves and
 * writes the Merkle tree, so the event loop that serves requests and commits
 * the log pays next to nothing per event.
 *
 * Two sources, chosen by the LedgerBuilder on the main thread:
 * - `file` (the embedded store): the worker opens events.sqlite read-only and
 *   reads the rows itself, by position range, up to the newest position the
 *   builder has seen committed (`upTo` messages). Nothing per event crosses
 *   the thread boundary.
 * - `messages` (any other store, EventStoreDB): the builder forwards the
 *   events as stored (`events` messages).
 *
 * After each transaction it reports the tree's size and newest leaf. `stop`
 * ends a catch-up after its current transaction (the tree resumes from its
 * newest leaf), then closes the files and answers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { GlobalPosition, RecordedEvent } from '../../ports/event-store.js';
import { catchUpFromLog, openLogRangeReader } from '../sqlite/log-range-reader.js';
import { SqliteMerkleTree } from './sqlite-merkle-tree.js';
import { lowerThisThreadPriority } from '../threads/background-priority.js';

export interface LedgerWorkerData {
  readonly ledgerFile: string;
  /** The embedded store's file, read-only; absent: events come as messages. */
  readonly eventsFile?: string;
  readonly synchronous?: 'FULL' | 'NORMAL';
}

export type LedgerWorkerRequest =
  | { readonly kind: 'upTo'; readonly position: GlobalPosition }
  | { readonly kind: 'events'; readonly events: readonly RecordedEvent[] }
  | { readonly kind: 'stop' };

export type LedgerWorkerReply =
  /** The tree's size, and the position up to which the log was read (its newest leaf, or past tombstones). */
  | { readonly kind: 'appended'; readonly size: number; readonly reached: GlobalPosition | undefined }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'stopped' };

/** Rows read and hashed per transaction at most. */
const BATCH = 2000;

const port = parentPort;
if (!port) throw new Error('ledger-worker.js runs as a worker thread');
const data = workerData as LedgerWorkerData;
// Background work: the event loop that answers requests goes first when both want a core (background-priority.ts).
lowerThisThreadPriority();
const tree = new SqliteMerkleTree(data.ledgerFile, data.synchronous ? { synchronous: data.synchronous } : {});

const log = data.eventsFile ? openLogRangeReader(data.eventsFile, BATCH) : undefined;

const report = (reached: GlobalPosition | undefined) => port.postMessage({ kind: 'appended', size: tree.size(), reached } satisfies LedgerWorkerReply);
const at = (position: number): GlobalPosition => ({ commit: BigInt(position), prepare: BigInt(position) });

/** The file source: from the tree's newest leaf on, up to the newest `upTo` (log-range-reader.ts). */
const catchUp = log
  ? catchUpFromLog(log, {
      from: Number(tree.checkpoint()?.commit ?? 0n),
      batch: BATCH,
      apply: (rows) => tree.append(rows),
      reached: (position) => report(at(position)),
      failed: (error) => port.postMessage({ kind: 'failed', message: error instanceof Error ? error.message : String(error) } satisfies LedgerWorkerReply),
    })
  : undefined;

port.on('message', (request: LedgerWorkerRequest) => {
  try {
    switch (request.kind) {
      case 'upTo':
        if (!catchUp) throw new Error('the ledger worker has no events file');
        catchUp.extendTo(Number(request.position.commit));
        break;
      case 'events':
        if (request.events.length === 0) break;
        tree.append(request.events);
        report(request.events[request.events.length - 1]!.position);
        break;
      case 'stop':
        catchUp?.stop();
        tree.close();
        log?.close();
        port.postMessage({ kind: 'stopped' } satisfies LedgerWorkerReply);
        port.close();
        break;
    }
  } catch (error) {
    port.postMessage({ kind: 'failed', message: error instanceof Error ? error.message : String(error) } satisfies LedgerWorkerReply);
  }
});
