import Database from 'better-sqlite3';
import { TOMBSTONE_EVENT_TYPE } from '../../domain/retention.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import { type EventRow, toRecorded } from './sqlite-event-store.js';

/** A read-only view of the embedded log for a worker thread (the ledger tree, the audit index). */
export interface LogRangeReader {
  /** Up to `batch` events after `after` and at most `upTo`, in position order, tombstones (retention) passed over. */
  readRange(after: number, upTo: number): RecordedEvent[];
  close(): void;
}

/** Opens events.sqlite read-only, as the store's own subscriptions read it. */
export function openLogRangeReader(eventsFile: string, batch: number): LogRangeReader {
  const events = new Database(eventsFile, { readonly: true, fileMustExist: true });
  events.pragma('busy_timeout = 5000');
  events.defaultSafeIntegers(false);
  const statement = events.prepare<[number, number, number], EventRow>(
    `SELECT * FROM events WHERE position > ? AND position <= ? AND type <> '${TOMBSTONE_EVENT_TYPE}' ORDER BY position ASC LIMIT ?`,
  );
  return {
    readRange: (after, upTo) => statement.all(after, upTo, batch).map(toRecorded),
    close: () => events.close(),
  };
}

/** A worker's catch-up over the embedded log (the ledger tree, the audit index): told how far, it reads there. */
export interface LogCatchUp {
  /** Read up to `position` (a committed position the main thread has seen); a catch-up in progress extends to it. */
  extendTo(position: number): void;
  /** End after the current batch (the filer resumes from its newest row next time). */
  stop(): void;
}

/**
 * One batch per turn of the worker's event loop, so that the messages that come meanwhile (stop, forget, remove)
 * are handled in between, and a stop during a first catch-up over a long log ends it after its current batch.
 * `apply` gets each non-empty batch; `reached` the position read up to after it (past tombstones).
 */
export function catchUpFromLog(
  reader: LogRangeReader,
  options: { readonly from: number; readonly batch: number; readonly apply: (rows: RecordedEvent[]) => void; readonly reached: (position: number) => void; readonly failed: (error: unknown) => void },
): LogCatchUp {
  let cursor = options.from;
  let target = cursor;
  let running = false;
  let stopped = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      while (cursor < target && !stopped) {
        const upTo = target;
        const rows = reader.readRange(cursor, upTo);
        if (rows.length > 0) options.apply(rows);
        // Fewer than a batch: the range is read (what is left of it, if anything, is tombstones).
        cursor = rows.length < options.batch ? upTo : Number(rows[rows.length - 1]!.position.commit);
        options.reached(cursor);
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      options.failed(error);
    } finally {
      running = false;
    }
  };
  return {
    extendTo(position) {
      target = Math.max(target, position);
      void run();
    },
    stop() {
      stopped = true;
    },
  };
}
