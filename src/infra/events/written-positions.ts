import { AsyncLocalStorage } from 'node:async_hooks';
import { comparePositions, type GlobalPosition } from '../../ports/event-store.js';

/**
 * Read-your-writes (docs/operations.md): the log position a request's write
 * reached. The read-your-writes middleware opens a record for each request;
 * a write route, when it settles its write (WriteContext.settle: the wait for
 * the read models every write route makes), notes the position there, and the
 * record puts the highest one in the answer's X-Log-Position header.
 *
 * Only settled writes are noted, not every append: appends a route makes
 * without awaiting them (a failed login's record, whose answer must not depend
 * on whether the account exists) must not show in the answer either.
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
