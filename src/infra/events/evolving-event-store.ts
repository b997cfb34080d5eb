import { eventReader, type EventReader, UNREADABLE_EVENT_TYPE } from '../../domain/upcasting.js';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  GlobalPosition,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from '../../ports/event-store.js';
import { UnreadableEvents } from './unreadable-events.js';

/**
 * The read path every reader shares: wraps any EventStore (SQLite,
 * EventStoreDB) so that every event read, by stream, from the log or through a
 * subscription, comes out upcast to the current version and validated. An
 * event that cannot be read keeps its stream, revision, position and metadata
 * but comes out as type `$unreadable` with data saying what it was and why (not
 * its data), and is reported once to `unreadable`: deciders, projections and
 * process managers pass over it, and revisions and positions stay exact, so
 * appends with an expected revision and checkpoints are unaffected.
 * Appends go through unchanged (the pipeline stamps the schema version).
 */
export class EvolvingEventStore implements EventStore {
  /** Subscribers share the adapter's event objects: each is read once for all of them. */
  private readonly cache = new WeakMap<RecordedEvent, RecordedEvent>();

  constructor(
    readonly inner: EventStore,
    readonly unreadable: UnreadableEvents = new UnreadableEvents(),
    private readonly reader: EventReader = eventReader,
  ) {}

  /** One event as this version reads it. */
  read(raw: RecordedEvent): RecordedEvent {
    const cached = this.cache.get(raw);
    if (cached) return cached;
    const outcome = this.reader.read(raw);
    let event: RecordedEvent;
    if (outcome.ok) {
      event =
        outcome.upcastFrom === undefined
          ? { ...raw, data: outcome.data }
          : { ...raw, data: outcome.data, metadata: { ...raw.metadata, schemaVersion: outcome.schemaVersion } };
    } else {
      this.unreadable.report(raw, outcome.unreadable);
      event = { ...raw, type: UNREADABLE_EVENT_TYPE, data: outcome.unreadable };
    }
    this.cache.set(raw, event);
    return event;
  }

  appendToStream(streamName: string, events: readonly NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    return this.inner.appendToStream(streamName, events, options);
  }

  async readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return (await this.inner.readStream(streamName, options)).map((event) => this.read(event));
  }

  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return (await this.inner.readAll(options)).map((event) => this.read(event));
  }

  subscribeToAll(options?: SubscribeOptions): Subscription {
    const inner = this.inner.subscribeToAll(options);
    const read = (event: RecordedEvent) => this.read(event);
    async function* deliver(): AsyncGenerator<RecordedEvent> {
      for await (const event of inner) yield read(event);
    }
    const iterator = deliver();
    return { [Symbol.asyncIterator]: () => iterator, close: () => inner.close() };
  }

  headPosition(): Promise<GlobalPosition | undefined> {
    return this.inner.headPosition();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
