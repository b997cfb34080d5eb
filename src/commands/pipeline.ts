import { v7 as uuidv7 } from 'uuid';
import type { CommandMetadata, Decider, DomainEvent } from '../domain/shared/decider.js';
import { ConcurrencyError } from '../domain/shared/errors.js';
import { eventSchemas, isKnownEventType } from '../domain/events.js';
import { currentSchemaVersion } from '../domain/upcasting.js';
import {
  type EventStore,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
  WrongExpectedRevisionError,
} from '../ports/event-store.js';

export interface CommandResult<State> {
  /** The state after the new events. */
  readonly state: State;
  readonly newEvents: readonly DomainEvent[];
  /** Where the last new event landed; undefined when the command changed nothing. */
  readonly position?: GlobalPosition;
}

export const MAX_ATTEMPTS = 5;

/** Stamp a domain event with the metadata every stored event carries. */
export function toNewEvent(event: DomainEvent, meta: CommandMetadata): NewEvent {
  const schema = eventSchemas[event.type];
  if (!schema) throw new Error(`unknown event type ${event.type}`);
  return {
    type: event.type,
    data: schema.parse(event.data),
    metadata: {
      eventId: uuidv7(),
      occurredAt: meta.now.toISOString(),
      actor: meta.actor,
      correlationId: meta.correlationId,
      causationId: meta.causationId,
      schemaVersion: currentSchemaVersion(event.type),
    },
  };
}

/**
 * The one way state changes: read the stream, fold it, decide, append with the
 * revision that was read. If another writer got there first, start over with
 * the newer state; after MAX_ATTEMPTS give up with a ConcurrencyError (409).
 */
export async function handleCommand<State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: Decider<State, Event>,
  decide: (state: State) => Event[],
  meta: CommandMetadata,
  /** maxAttempts: a stream many writers share (an organization's resource ledger) may need more retries. */
  options?: { maxAttempts?: number },
): Promise<CommandResult<State>> {
  const maxAttempts = options?.maxAttempts ?? MAX_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    const history = await store.readStream(streamName);
    let state = fold(decider, history);
    const newEvents = decide(state);
    if (newEvents.length === 0) return { state, newEvents };
    const revision = history.length === 0 ? 'no_stream' : history[history.length - 1]!.revision;
    try {
      const result = await store.appendToStream(
        streamName,
        newEvents.map((event) => toNewEvent(event, meta)),
        { expectedRevision: revision },
      );
      for (const event of newEvents) state = decider.evolve(state, event);
      return { state, newEvents, position: result.position };
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      if (attempt >= maxAttempts) {
        throw new ConcurrencyError(`${streamName} changed concurrently ${attempt} times; try again`);
      }
    }
  }
}

/** Read a stream and fold it, without deciding anything. */
export async function loadState<State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: Decider<State, Event>,
): Promise<{ state: State; revision: number | undefined }> {
  const history = await store.readStream(streamName);
  return { state: fold(decider, history), revision: history.at(-1)?.revision };
}

/**
 * Fold a stream into a decider's state. An event this version cannot read (the
 * store hands it over as `$unreadable`, already reported) or whose type it does
 * not know (a newer instance wrote it during a rolling deploy) is passed over:
 * each decider's evolve stays exhaustive over its own event types.
 */
const fold = <State, Event extends DomainEvent>(decider: Decider<State, Event>, history: readonly RecordedEvent[]): State => {
  let state = decider.initialState();
  for (const event of history) {
    if (isKnownEventType(event.type)) state = decider.evolve(state, event as unknown as Event);
  }
  return state;
};
