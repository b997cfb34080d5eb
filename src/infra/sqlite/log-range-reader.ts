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
