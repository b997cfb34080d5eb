import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type AppendExpectedRevision,
  type JSONType,
  type Position,
} from '@eventstore/db-client';
import {
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
  WrongExpectedRevisionError,
  comparePositions,
} from '../../ports/event-store.js';
import type { NativeStreamRetention } from '../../domain/retention.js';

/** Default page of readAll, as in the SQLite adapter. */
const PAGE_SIZE = 1000;
/**
 * Most events one gRPC read of a stream asks for: a longer read goes in pages,
 * so no call pulls a whole long stream at once (the pipeline reads 500 at a time too).
 */
export const STREAM_PAGE_SIZE = 500;
/** Page used when walking $all backwards past system events to find the head. */
const HEAD_PAGE_SIZE = 100;

/** The fields we use of an ESDB recorded event (stream reads and $all reads alike). */
interface EsdbRecordedEvent {
  readonly streamId: string;
  readonly revision: bigint;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly position?: Position;
}

/** The streams where process-manager checkpoints are kept (eventstoredb-checkpoint-store.ts). */
export const CHECKPOINT_STREAM_PREFIX = 'checkpoint-';

/**
 * Not part of our log: `$`-prefixed event types ($metadata, $>, $settings...)
 * and `$`-prefixed streams belong to the server; checkpoint streams belong to
 * the process managers. Checkpoints must never reach a subscriber: a process
 * manager that saw its own checkpoint as an event would save another, forever.
 */
export const isSystemEvent = (event: Pick<EsdbRecordedEvent, 'type' | 'streamId'>): boolean =>
  event.type.startsWith('$') || event.streamId.startsWith('$') || event.streamId.startsWith(CHECKPOINT_STREAM_PREFIX);

const toGlobalPosition = (position: Position): GlobalPosition => ({ commit: position.commit, prepare: position.prepare });

const toRecorded = (event: EsdbRecordedEvent): RecordedEvent => {
  // Stream reads carry the $all position only from server 22.6 on.
  if (!event.position) {
    throw new Error(`EventStoreDB returned event ${event.streamId}@${event.revision} without a position (server older than 22.6?)`);
  }
  return {
    streamName: event.streamId,
    revision: Number(event.revision),
    position: toGlobalPosition(event.position),
    type: event.type,
    data: event.data,
    metadata: event.metadata as EventMetadata,
  };
};

const toAppendExpectedRevision = (expected: ExpectedRevision): AppendExpectedRevision =>
  expected === 'no_stream' ? NO_STREAM : expected === 'any' ? ANY : BigInt(expected);

/** ESDB reports a missing stream as 'no_stream' (older servers as -1). */
const toActualRevision = (current: bigint | 'no_stream'): number | 'no_stream' =>
  current === 'no_stream' || current < 0n ? 'no_stream' : Number(current);

/** Drain a finite read (bounded by maxCount, so no early break that would leave the gRPC call open). */
async function drain<T>(read: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of read) items.push(item);
  return items;
}

/**
 * The production event store: a thin mapping of our port onto the official
 * EventStoreDB gRPC client. Every event is stored as JSON with our metadata as
 * the event's custom metadata and metadata.eventId as the event id (which also
 * makes a retried append idempotent on the server).
 */
export class EventStoreDbEventStore implements EventStore {
  /** Retention (src/domain/retention.ts): the native metadata a stream gets when it is first written. */
  private retention: ((streamName: string) => NativeStreamRetention | undefined) | undefined;

  private constructor(private readonly esdb: EventStoreDBClient) {}

  /** The client connects lazily: a bad address surfaces on the first call. */
  static async connect(connectionString: string): Promise<EventStoreDbEventStore> {
    return new EventStoreDbEventStore(EventStoreDBClient.connectionString(connectionString));
  }

  /** Over a client made elsewhere (tests give a stand-in with the client's API). */
  static withClient(client: EventStoreDBClient): EventStoreDbEventStore {
    return new EventStoreDbEventStore(client);
  }

  /** The underlying client, shared with EventStoreDbCheckpointStore. */
  get client(): EventStoreDBClient {
    return this.esdb;
  }

  async appendToStream(
    streamName: string,
    events: readonly NewEvent[],
    options: { expectedRevision: ExpectedRevision },
  ): Promise<AppendResult> {
    if (events.length === 0) throw new Error('nothing to append');
    const expected = options.expectedRevision;
    const data = events.map((event) =>
      jsonEvent({
        id: event.metadata.eventId,
        type: event.type,
        data: event.data as JSONType,
        metadata: event.metadata as unknown as JSONType,
      }),
    );
    let result;
    try {
      result = await this.esdb.appendToStream(streamName, data, { expectedRevision: toAppendExpectedRevision(expected) });
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) {
        throw new WrongExpectedRevisionError(streamName, expected, toActualRevision(error.actualVersion));
      }
      throw error;
    }
    if (!result.success) {
      // Only when the connection string sets throwOnAppendFailure=false; the
      // client's nextExpectedRevision is then unreliable, so ask the stream.
      throw new WrongExpectedRevisionError(streamName, expected, await this.currentRevision(streamName));
    }
    if (!result.position) {
      throw new Error(`EventStoreDB append to ${streamName} returned no position`);
    }
    await this.applyNativeRetention(streamName, events.length, Number(result.nextExpectedRevision));
    return {
      nextExpectedRevision: Number(result.nextExpectedRevision),
      position: toGlobalPosition(result.position),
    };
  }

  /**
   * Retention on EventStoreDB is the server's own: a stream of a category with
   * retention gets $maxAge / $maxCount in its metadata when it is first written,
   * and the server's scavenge removes what they exclude (without tombstones, for
   * now). Streams written before this was set are left as they are.
   */
  useRetention(rule: (streamName: string) => NativeStreamRetention | undefined): void {
    this.retention = rule;
  }

  private async applyNativeRetention(streamName: string, appended: number, nextExpectedRevision: number): Promise<void> {
    // Only the append that created the stream (its events are revisions 0..appended-1).
    if (!this.retention || nextExpectedRevision !== appended - 1) return;
    const rule = this.retention(streamName);
    if (!rule) return;
    try {
      await this.esdb.setStreamMetadata(streamName, {
        ...(rule.maxAgeSeconds !== undefined && { maxAge: rule.maxAgeSeconds }),
        ...(rule.maxCount !== undefined && { maxCount: rule.maxCount }),
      });
    } catch {
      // The events are appended; a stream without its metadata only keeps more than it needs.
    }
  }

  private async currentRevision(streamName: string): Promise<number | 'no_stream'> {
    const [last] = await this.readStream(streamName, { direction: 'backwards', maxCount: 1 });
    return last ? last.revision : 'no_stream';
  }

  /**
   * Events of one stream, at most `maxCount` of them, read in pages of at most
   * STREAM_PAGE_SIZE: each page asks the server for no more than it still needs,
   * and the next page starts after the last event of the previous one. A
   * backwards read with a `maxCount` (the pipeline's way back to the newest
   * snapshot or opening event) reads only that many from the end.
   */
  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const limit = options.maxCount ?? Number.POSITIVE_INFINITY;
    if (limit <= 0) return [];
    const backwards = options.direction === 'backwards';
    const result: RecordedEvent[] = [];
    // fromRevision is inclusive in ESDB, as in our port.
    let from: bigint | typeof START | typeof END =
      options.fromRevision === undefined ? (backwards ? END : START) : BigInt(options.fromRevision);
    while (result.length < limit) {
      const wanted = Math.min(STREAM_PAGE_SIZE, limit - result.length);
      let page;
      try {
        page = await drain(this.esdb.readStream(streamName, { direction: backwards ? BACKWARDS : FORWARDS, fromRevision: from, maxCount: wanted }));
      } catch (error) {
        if (error instanceof StreamNotFoundError) return result;
        throw error;
      }
      let last: bigint | undefined;
      for (const { event } of page) {
        if (!event) continue;
        last = event.revision;
        // Without resolveLinkTos a link arrives as `event` of type `$>`: not ours.
        if (!event.type.startsWith('$')) result.push(toRecorded(event));
      }
      if (page.length < wanted || last === undefined) break;
      if (backwards && last === 0n) break;
      from = backwards ? last - 1n : last + 1n;
    }
    return result;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const limit = options.maxCount ?? PAGE_SIZE;
    const result: RecordedEvent[] = [];
    // ESDB's readAll fromPosition is INCLUSIVE while our `after` is exclusive:
    // start at `after` and drop the event at (or before) it. System events are
    // filtered here, client-side, so keep paging until `limit` of ours or the end.
    let after = options.after;
    while (result.length < limit) {
      const wanted = limit - result.length + (after ? 1 : 0);
      const page = await drain(
        this.esdb.readAll({ direction: FORWARDS, fromPosition: after ?? START, maxCount: wanted }),
      );
      let last: Position | undefined;
      for (const { event } of page) {
        if (!event) continue;
        last = event.position;
        if (after && comparePositions(event.position, after) <= 0) continue;
        if (isSystemEvent(event)) continue;
        if (result.length < limit) result.push(toRecorded(event));
      }
      if (page.length < wanted || !last) break;
      after = toGlobalPosition(last);
    }
    return result;
  }

  /** One read of the $all stream per position (ESDB has no read by a set of positions). */
  async readPositions(positions: readonly GlobalPosition[]): Promise<RecordedEvent[]> {
    const result: RecordedEvent[] = [];
    for (const position of positions) {
      const page = await drain(this.esdb.readAll({ direction: FORWARDS, fromPosition: position, maxCount: 1 }));
      const event = page[0]?.event;
      if (event && !isSystemEvent(event) && comparePositions(event.position, position) === 0) result.push(toRecorded(event));
    }
    return result;
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    // subscribeToAll's fromPosition is EXCLUSIVE, like our `after`. The server
    // filter drops `$` event types; events on `$` streams are dropped below.
    const subscription = this.esdb.subscribeToAll({
      fromPosition: options.after ? { commit: options.after.commit, prepare: options.after.prepare } : START,
      filter: excludeSystemEvents(),
    });
    let closed = false;
    const stop = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      // unsubscribe() cancels the gRPC call; destroy() ends an iteration
      // waiting for the next event even if the cancellation does not.
      await subscription.unsubscribe();
      subscription.destroy();
    };

    async function* deliver(): AsyncGenerator<RecordedEvent> {
      try {
        for await (const { event } of subscription) {
          if (closed) return;
          if (!event || isSystemEvent(event)) continue;
          yield toRecorded(event);
        }
      } catch (error) {
        // Destroying the stream on close() ends the iteration with a premature-close error.
        if (!closed) throw error;
      } finally {
        // The consumer broke out of its loop, or the stream failed or ended.
        await stop();
      }
    }

    const iterator = deliver();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: stop,
    };
  }

  async headPosition(): Promise<GlobalPosition | undefined> {
    // The newest event of ours: walk $all backwards past system events.
    let before: Position | undefined;
    for (;;) {
      const page = await drain(
        this.esdb.readAll({ direction: BACKWARDS, fromPosition: before ?? END, maxCount: HEAD_PAGE_SIZE }),
      );
      let last: Position | undefined;
      for (const { event } of page) {
        if (!event) continue;
        // Whether a backwards read includes its start position is not
        // documented; skip it either way.
        if (before && comparePositions(event.position, before) >= 0) continue;
        last = event.position;
        if (!isSystemEvent(event)) return toGlobalPosition(event.position);
      }
      if (page.length < HEAD_PAGE_SIZE || !last) return undefined;
      before = last;
    }
  }

  async close(): Promise<void> {
    await this.esdb.dispose();
  }
}
