/**
 * What an event store adapter reports about each commit it makes, for the
 * metrics (src/infra/metrics/metrics.ts): SQLite calls it once per group
 * commit, and any other adapter (PostgreSQL) once per transaction. Optional:
 * an adapter without an observer reports nothing. It must be cheap and must
 * not throw: it runs on the append path.
 */
export interface CommitReport {
  /** Appends (calls of appendToStream) in the commit, the rejected ones included. */
  readonly appends: number;
  /** Events written by the commit (0 when it rolled back). */
  readonly events: number;
  /** Appends refused by their expected-revision check. */
  readonly conflicts: number;
  /** Wall time of the commit (transaction and fsync), in seconds. */
  readonly seconds: number;
  /** The transaction itself failed (I/O, a full disk): nothing of it is in the log. */
  readonly failed: boolean;
}

export interface AppendObserver {
  committed(report: CommitReport): void;
}
