/**
 * Errors of the event store or read-model database that say "not now" rather
 * than "no": a connection dropped, a leader or primary changing, a deadline
 * passed. A command may be tried again; an HTTP answer is a 503 with
 * Retry-After, never a 500. Recognized by shape, so that neither client
 * library is loaded to ask (EventStoreDB's is loaded only when configured).
 */
const EVENTSTOREDB_TRANSIENT = new Set(['unavailable', 'not-leader', 'deadline-exceeded', 'timeout']);
const MONGODB_TRANSIENT_NAMES = new Set(['MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoServerSelectionError', 'MongoNotPrimaryError', 'MongoNotConnectedError']);
const MONGODB_TRANSIENT_LABELS = ['RetryableWriteError', 'TransientTransactionError', 'ResetPool'];

export function isTransientStoreError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { type?: unknown; name?: unknown; hasErrorLabel?: unknown };
  // @eventstore/db-client: CommandError subclasses carry `type` (ErrorType).
  if (typeof candidate.type === 'string' && EVENTSTOREDB_TRANSIENT.has(candidate.type) && error instanceof Error) return true;
  // mongodb: error classes by name, and the labels the driver puts on retryable errors.
  if (typeof candidate.name === 'string' && MONGODB_TRANSIENT_NAMES.has(candidate.name)) return true;
  if (typeof candidate.hasErrorLabel === 'function') {
    const hasLabel = candidate.hasErrorLabel as (label: string) => boolean;
    return MONGODB_TRANSIENT_LABELS.some((label) => hasLabel.call(error, label));
  }
  return false;
}

/** EventStoreDB errors that mean the request was not carried out (no leader, no connection): safe to send again. */
const EVENTSTOREDB_NOT_CARRIED_OUT = new Set(['unavailable', 'not-leader']);

/**
 * Transient, and certainly without effect: a command may be run again from
 * the start. (A deadline that passed may have let an append through: that one
 * is answered 503 instead, and the client's retry, with an Idempotency-Key,
 * finds out.)
 */
export function isRetryableStoreError(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return error instanceof Error && typeof type === 'string' && EVENTSTOREDB_NOT_CARRIED_OUT.has(type);
}
