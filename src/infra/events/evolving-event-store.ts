import { TOMBSTONE_EVENT_TYPE } from '../../domain/retention.js';
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
  ScavengeOptions,
  ScavengePolicy,
  ScavengeReport,
  SubscribeOptions,
  Subscription,
} from '../../ports/event-store.js';
import { UnreadableEvents } from './unreadable-events.js';
import type { PersonalDataCipher } from './encrypting-event-store.js';

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
 * Tombstones (events removed by retention) are never handed to readers, should
 * an adapter deliver one; the retention policy sees events as they read here.
 */
export class EvolvingEventStore implements EventStore {
  /** Subscribers share the adapter's event objects: each is read once for all of them. */
  private readonly cache = new WeakMap<RecordedEvent, RecordedEvent>();
  /**
   * The same for events whose personal data was opened (the projections and every process manager read each
   * event): kept only while no key is erased. When the cipher's erasure generation moves, all of them are
   * dropped at the next read, so the read after an erasure says `[erased]` (docs/crypto-shredding.md).
   */
  private opened = new WeakMap<RecordedEvent, RecordedEvent>();
  private openedGeneration = 0;

  constructor(
    readonly inner: EventStore,
    readonly unreadable: UnreadableEvents = new UnreadableEvents(),
    private readonly reader: EventReader = eventReader,
    /** Crypto-shredding (docs/crypto-shredding.md): appends seal personal fields, reads open them; `inner` keeps the stored form. */
    readonly personalData?: PersonalDataCipher,
  ) {}

  /** One event as this version reads it. */
  read(stored: RecordedEvent): RecordedEvent {
    const cached = this.cache.get(stored);
    if (cached) return cached;
    if (this.personalData) {
      const generation = this.personalData.erasureGeneration;
      if (generation !== this.openedGeneration) {
        this.opened = new WeakMap();
        this.openedGeneration = generation;
      }
      const opened = this.opened.get(stored);
      if (opened) return opened;
    }
    const raw = this.personalData ? this.personalData.open(stored) : stored;
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
    if (raw === stored) this.cache.set(stored, event);
    else this.opened.set(stored, event);
    return event;
  }

  appendToStream(streamName: string, events: readonly NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    const personalData = this.personalData;
    try {
      if (!personalData) return this.inner.appendToStream(streamName, events, options);
      const sealAndAppend = () => this.inner.appendToStream(streamName, events.map((event) => personalData.seal(event)), options);
      // The persons' keys first when one is not at hand: made in one durable write for concurrent appends (SQLite),
      // or fetched (PostgreSQL). Usually every key is: then no extra turn (a closed loop of writers pays each one).
      const preparing = personalData.prepareToSeal(events);
      return preparing ? preparing.then(sealAndAppend) : sealAndAppend();
    } catch (error) {
      // As from an async function: a failure (to seal, say) is a rejected append, never a throw.
      return Promise.reject(error);
    }
  }

  async readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.readEach(await this.inner.readStream(streamName, options));
  }

  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.readEach(await this.inner.readAll(options));
  }

  async readPositions(positions: readonly GlobalPosition[]): Promise<RecordedEvent[]> {
    if (!this.inner.readPositions) throw new Error('this event store cannot read events by position');
    return this.readEach(await this.inner.readPositions(positions));
  }

  private readEach(events: readonly RecordedEvent[]): RecordedEvent[] {
    const read: RecordedEvent[] = [];
    for (const event of events) if (event.type !== TOMBSTONE_EVENT_TYPE) read.push(this.read(event));
    return read;
  }

  subscribeToAll(options?: SubscribeOptions): Subscription {
    const inner = this.inner.subscribeToAll(options);
    const read = (event: RecordedEvent) => this.read(event);
    async function* deliver(): AsyncGenerator<RecordedEvent> {
      for await (const event of inner) if (event.type !== TOMBSTONE_EVENT_TYPE) yield read(event);
    }
    const iterator = deliver();
    return { [Symbol.asyncIterator]: () => iterator, close: () => inner.close() };
  }

  headPosition(): Promise<GlobalPosition | undefined> {
    return this.inner.headPosition();
  }

  /** The adapter's scavenger, if it has one, deciding on events as this version reads them. */
  get scavenge(): ((policy: ScavengePolicy, options?: ScavengeOptions) => Promise<ScavengeReport>) | undefined {
    const inner = this.inner;
    if (!inner.scavenge) return undefined;
    return (policy, options) =>
      inner.scavenge!(
        { categories: policy.categories, removable: (streamName, events, now) => policy.removable(streamName, this.readEach(events), now) },
        options,
      );
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
