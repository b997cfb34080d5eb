/**
 * The audit index's worker thread (docs/audit.md, The index): files the log
 * into audit.sqlite off the event loop that serves requests, the way the
 * ledger's worker builds the tree (src/infra/ledger/ledger-worker.ts).
 *
 * Two sources, chosen by SqliteAuditIndex on the main thread:
 * - `file` (the embedded store): the worker opens events.sqlite read-only
 *   and reads the rows itself, by position range, up to the newest position
 *   the main thread has seen committed (`upTo`). It opens sealed personal
 *   data with its own connection to person-keys.sqlite. Nothing per event
 *   crosses the thread boundary.
 * - `messages` (any other store): the main thread forwards the events,
 *   already opened (`events`).
 *
 * Messages are handled in order, and a catch-up files one batch per turn of
 * the worker's loop, so `forget` (erasure) and `remove` run between two
 * batches: whatever is filed after a `forget` is filed without the person's
 * key. After each batch it reports how far it read the log.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { GlobalPosition, RecordedEvent } from '../../ports/event-store.js';
import { PersonKeys } from '../crypto/person-keys.js';
import { PersonalDataCipher } from '../events/encrypting-event-store.js';
import { openLeafReader } from '../ledger/leaf-reader.js';
import { AuditFiler } from './audit-filer.js';
import { catchUpFromLog, openLogRangeReader } from './log-range-reader.js';
import { lowerThisThreadPriority } from '../threads/background-priority.js';

export interface AuditWorkerData {
  readonly auditFile: string;
  /** The embedded store's file, read-only; absent: events come as messages. */
  readonly eventsFile?: string;
  /** The local data keys (crypto-shredding), to open what the worker reads from the file; absent: nothing is sealed. */
  readonly personKeys?: { readonly file: string; readonly wrappingKey: Uint8Array };
  /** The ledger's file: the export lines' leaves are read from the tree where it has them (else computed). */
  readonly ledgerFile?: string;
}

export type AuditWorkerRequest =
  | { readonly kind: 'upTo'; readonly position: GlobalPosition }
  | { readonly kind: 'events'; readonly events: readonly RecordedEvent[] }
  | { readonly kind: 'forget'; readonly id: number; readonly subject: string }
  | { readonly kind: 'remove'; readonly seqs: readonly number[] }
  | { readonly kind: 'stop' };

export type AuditWorkerReply =
  /** The log is filed up to `reached`; `types`: types filed for the first time. */
  | { readonly kind: 'filed'; readonly reached: GlobalPosition; readonly types: readonly string[] }
  | { readonly kind: 'forgotten'; readonly id: number; readonly changed: number; readonly error?: string }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'stopped' };

/** Rows read and filed per transaction at most. */
const BATCH = 5000;

const port = parentPort;
if (!port) throw new Error('audit-index-worker.js runs as a worker thread');
const data = workerData as AuditWorkerData;
// Background work: the event loop that answers requests goes first when both want a core (background-priority.ts).
lowerThisThreadPriority();

const keys = data.personKeys ? new PersonKeys(data.personKeys.file, data.personKeys.wrappingKey) : undefined;
const cipher = keys ? new PersonalDataCipher(keys) : undefined;
// Events read from the file are as stored; events sent as messages come opened (no export line parts for them).
const filer = new AuditFiler(
  data.auditFile,
  cipher ? (event) => cipher.open(event) : undefined,
  data.eventsFile !== undefined,
  data.ledgerFile ? openLeafReader(data.ledgerFile) : undefined,
);

const log = data.eventsFile ? openLogRangeReader(data.eventsFile, BATCH) : undefined;

const at = (position: number): GlobalPosition => ({ commit: BigInt(position), prepare: BigInt(position) });
const report = (reached: GlobalPosition) => port.postMessage({ kind: 'filed', reached, types: filer.takeNewTypes() } satisfies AuditWorkerReply);
const fail = (error: unknown) => port.postMessage({ kind: 'failed', message: error instanceof Error ? error.message : String(error) } satisfies AuditWorkerReply);

/** The file source: from the index's newest row on, up to the newest `upTo` (log-range-reader.ts). */
const catchUp = log
  ? catchUpFromLog(log, { from: Number(filer.last()?.commit ?? 0n), batch: BATCH, apply: (rows) => filer.file(rows), reached: (position) => report(at(position)), failed: fail })
  : undefined;

port.on('message', (request: AuditWorkerRequest) => {
  try {
    switch (request.kind) {
      case 'upTo':
        if (!catchUp) throw new Error('the audit index worker has no events file');
        catchUp.extendTo(Number(request.position.commit));
        break;
      case 'events':
        if (request.events.length === 0) break;
        filer.file(request.events);
        report(request.events[request.events.length - 1]!.position);
        break;
      case 'forget': {
        // The person's key was destroyed before this was asked: forget any kept copy, then their names.
        keys?.evictAll();
        try {
          const changed = filer.forgetSubject(request.subject);
          port.postMessage({ kind: 'forgotten', id: request.id, changed } satisfies AuditWorkerReply);
        } catch (error) {
          port.postMessage({ kind: 'forgotten', id: request.id, changed: 0, error: error instanceof Error ? error.message : String(error) } satisfies AuditWorkerReply);
        }
        break;
      }
      case 'remove':
        filer.remove(request.seqs);
        break;
      case 'stop':
        catchUp?.stop();
        filer.close();
        log?.close();
        keys?.close();
        port.postMessage({ kind: 'stopped' } satisfies AuditWorkerReply);
        port.close();
        break;
    }
  } catch (error) {
    fail(error);
  }
});
