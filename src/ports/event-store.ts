/**
 * The event store port: the log every mutation is appended to. Two adapters
 * implement it (SQLite for the embedded default, EventStoreDB in production),
 * and one contract suite (test/infra/event-store.contract.test.ts) holds them
 * to the same behaviour.
 */

/** A position in the global log. SQLite uses one sequence for both parts;
 * EventStoreDB needs both to resume inside a multi-event commit. */
export interface GlobalPosition {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export const comparePositions = (a: GlobalPosition, b: GlobalPosition): number => {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
};

export const positionToString = (p: GlobalPosition): string => `${p.commit}/${p.prepare}`;

/**
 * Positions asked for at once (an export page), when they are dense enough to be read as one range of
 * commit positions (at most twice as many rows as asked) instead of one seek each: the range, and whether it
 * holds exactly them (otherwise the reader skips the rows not asked for).
 */
export function denseRange(positions: readonly GlobalPosition[]): { readonly low: bigint; readonly high: bigint; readonly exact: boolean } | undefined {
  if (positions.length === 0) return undefined;
  let low = positions[0]!.commit;
  let high = low;
  for (const { commit } of positions) {
    if (commit < low) low = commit;
    if (commit > high) high = commit;
  }
  if (high - low >= BigInt(positions.length) * 2n) return undefined;
  return { low, high, exact: high - low + 1n === BigInt(positions.length) };
}

export const parsePosition = (text: string): GlobalPosition => {
  const match = /^(\d+)\/(\d+)$/.exec(text);
  if (!match) throw new Error(`not a global position: ${text}`);
  return { commit: BigInt(match[1]!), prepare: BigInt(match[2]!) };
};

/** Who did it, when, and why: carried by every event. */
export interface EventMetadata {
  readonly eventId: string;
  readonly occurredAt: string;
  /** `id`: a user actor's id, whose key seals `subject` (their email) in the stored event (docs/crypto-shredding.md). */
  readonly actor: { readonly subject: string; readonly kind: ActorKind; readonly id?: string };
  readonly correlationId: string;
  readonly causationId: string;
  /** The schema version of the data (src/domain/upcasting.ts); absent in events written before versions: version 1. */
  readonly schemaVersion?: number;
  /** Where the request that caused it came from; absent for events appended outside a request. */
  readonly source?: RequestSource;
}

/** The address (as the throttle counts it, honouring TRUSTED_PROXIES) and user agent (at most 256 characters) of a request. */
export interface RequestSource {
  readonly address: string;
  readonly userAgent: string | null;
}

export type ActorKind = 'platform_administrator' | 'user' | 'service_account' | 'application' | 'system';

export interface NewEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
}

export interface RecordedEvent<Type extends string = string, Data = unknown> extends NewEvent<Type, Data> {
  readonly streamName: string;
  /** Zero-based position of the event in its stream. */
  readonly revision: number;
  readonly position: GlobalPosition;
}

/** What the writer believes the stream looks like before its append. */
export type ExpectedRevision = 'no_stream' | 'any' | number;

export interface AppendResult {
  /** Revision of the last event appended; pass it as the next expected revision. */
  readonly nextExpectedRevision: number;
  /** Global position of the last event appended. */
  readonly position: GlobalPosition;
}

export class WrongExpectedRevisionError extends Error {
  override readonly name = 'WrongExpectedRevisionError';
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no_stream',
  ) {
    super(`stream ${streamName}: expected revision ${String(expected)}, actual ${String(actual)}`);
  }
}

export interface ReadStreamOptions {
  readonly direction?: 'forwards' | 'backwards';
  /** Inclusive; defaults to the first event (forwards) or the last (backwards). */
  readonly fromRevision?: number;
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. Omitted: from the start. */
  readonly after?: GlobalPosition;
  readonly maxCount?: number;
}

export interface SubscribeOptions {
  /** Exclusive: deliver events strictly after this position. Omitted: from the start. */
  readonly after?: GlobalPosition;
}

/**
 * A catch-up subscription: every event after the start position in log order,
 * then live events as they are committed, without a gap or a duplicate at the
 * switch. Iterate it with `for await`; `close()` ends the iteration.
 */
export interface Subscription extends AsyncIterable<RecordedEvent> {
  close(): Promise<void>;
}

/**
 * Retention as a scavenger applies it (src/domain/retention.ts): the stream
 * categories (name prefixes) it looks at, and which of a stream's events may go.
 */
export interface ScavengePolicy {
  readonly categories: readonly string[];
  /** Revisions of `events` (the stream's kept events, revision order) that may be removed at `now`. */
  removable(streamName: string, events: readonly RecordedEvent[], now: Date): number[];
}

export interface ScavengeOptions {
  readonly now?: Date;
  /** Streams examined per transaction (a page), with a yield to the event loop between pages. */
  readonly streamsPerPage?: number;
  /** At most this many events removed per transaction (a stream with more continues in the next). */
  readonly rowsPerPage?: number;
}

export interface ScavengeReport {
  readonly streams: number;
  /** Events replaced by tombstones in this pass. */
  readonly removed: number;
  /** Bytes the database file gave back after the pass (incremental vacuum), when the engine does that. */
  readonly bytesFreed?: number;
}

export interface EventStore {
  appendToStream(streamName: string, events: readonly NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult>;
  /** Events of one stream; an empty array when the stream does not exist. */
  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /**
   * The events at these positions, in position order, as the adapter reads
   * them (the raw store: as stored; EvolvingEventStore: upcast). Positions
   * without an event (a tombstone, none yet) are left out. Optional so that
   * test doubles need not have it; every adapter of the service does.
   */
  readPositions?(positions: readonly GlobalPosition[]): Promise<RecordedEvent[]>;
  subscribeToAll(options?: SubscribeOptions): Subscription;
  /** Position of the newest event in the log, or undefined when it is empty. */
  headPosition(): Promise<GlobalPosition | undefined>;
  /**
   * Optional (SQLite): apply a retention policy now. Each removed event keeps
   * its position and revision as a tombstone carrying the SHA-256 of what was
   * there; reads never return tombstones. Idempotent; safe beside appends.
   * Engines with native retention (EventStoreDB) do not have it.
   */
  scavenge?(policy: ScavengePolicy, options?: ScavengeOptions): Promise<ScavengeReport>;
  close(): Promise<void>;
}
