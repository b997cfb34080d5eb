import { AsyncLocalStorage } from 'node:async_hooks';
import { comparePositions, type GlobalPosition } from '../../ports/event-store.js';

/**
 * Read-your-writes (docs/operations.md): the log position a request's appends
 * reached. The read-your-writes middleware opens a record for each request;
 * every append made in that request's async context (EvolvingEventStore, the
 * one write path of every engine) notes its position there, and the record
 * hands the highest one to `reached` (which puts it in the answer's header).
 * Appends outside a request (process managers) note nothing.
 */
export interface WrittenPositions {
  reached(position: GlobalPosition): void;
  /** The highest position noted so far. */
  highest?: GlobalPosition;
}

const records = new AsyncLocalStorage<WrittenPositions>();

export const runRecordingWrites = <T>(record: WrittenPositions, run: () => T): T => records.run(record, run);

/** Called after each successful append. */
export function noteWritten(position: GlobalPosition): void {
  const record = records.getStore();
  if (!record) return;
  if (record.highest !== undefined && comparePositions(record.highest, position) >= 0) return;
  record.highest = position;
  record.reached(position);
}
