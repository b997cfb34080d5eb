import { BACKWARDS, END, EventStoreDBClient, StreamNotFoundError, jsonEvent } from '@eventstore/db-client';
import type { CheckpointStore } from '../../ports/checkpoints.js';
import { type GlobalPosition, parsePosition, positionToString } from '../../ports/event-store.js';
import { CHECKPOINT_STREAM_PREFIX, EventStoreDbEventStore } from './eventstoredb-event-store.js';

const CHECKPOINT_EVENT = 'checkpoint.stored';
/** Only the latest checkpoint matters; the server may scavenge older ones. */
const KEEP_LAST = 10;

const streamOf = (name: string): string => `${CHECKPOINT_STREAM_PREFIX}${name}`;

/**
 * Process-manager checkpoints as events in EventStoreDB itself: one stream per
 * process (`checkpoint-<name>`), the newest event is the checkpoint. These
 * streams are ordinary (not `$`), so their events also appear in $all; the
 * event store's reads and subscriptions drop them (isSystemEvent), so that no
 * consumer ever sees one (a process manager that did would checkpoint it,
 * appending another, about five a second forever).
 *
 * It borrows the event store's client and does not dispose it.
 */
export class EventStoreDbCheckpointStore implements CheckpointStore {
  private readonly client: EventStoreDBClient;
  /** Streams whose $maxCount this process has already checked. */
  private readonly limited = new Set<string>();

  constructor(source: EventStoreDBClient | EventStoreDbEventStore) {
    this.client = source instanceof EventStoreDbEventStore ? source.client : source;
  }

  async load(name: string): Promise<GlobalPosition | undefined> {
    const events = [];
    try {
      for await (const resolved of this.client.readStream(streamOf(name), { direction: BACKWARDS, fromRevision: END, maxCount: 1 })) {
        events.push(resolved);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return undefined;
      throw error;
    }
    const data = events[0]?.event?.data as { position?: unknown } | undefined;
    if (data === undefined) return undefined;
    if (typeof data.position !== 'string') throw new Error(`malformed checkpoint in ${streamOf(name)}`);
    return parsePosition(data.position);
  }

  async save(name: string, position: GlobalPosition): Promise<void> {
    const stream = streamOf(name);
    if (!this.limited.has(stream)) {
      // Set $maxCount once, not on every start: each set appends to $$<stream>.
      const { metadata } = await this.client.getStreamMetadata(stream);
      if (metadata?.maxCount !== KEEP_LAST) await this.client.setStreamMetadata(stream, { ...metadata, maxCount: KEEP_LAST });
      this.limited.add(stream);
    }
    await this.client.appendToStream(stream, jsonEvent({ type: CHECKPOINT_EVENT, data: { position: positionToString(position) } }));
  }

  /** The client belongs to the event store, which disposes it. */
  async close(): Promise<void> {}
}
