import { randomUUID } from 'node:crypto';
import type { CommandMetadata, Decider, DomainEvent } from '../domain/shared/decider.js';
import { ConcurrencyError } from '../domain/shared/errors.js';
import { eventSchemas, isKnownEventType } from '../domain/events.js';
import { currentSchemaVersion } from '../domain/upcasting.js';
import type { SnapshotPolicy } from '../ports/snapshots.js';
import type { CachedState, StreamStates } from './stream-states.js';
import {
  type EventStore,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
  WrongExpectedRevisionError,
} from '../ports/event-store.js';
import { isRetryableStoreError } from '../ports/transient-errors.js';
import { currentRequestSource } from './request-source.js';

export interface CommandResult<State> {
  /** The state after the new events. */
  readonly state: State;
  readonly newEvents: readonly DomainEvent[];
  /** Where the last new event landed; undefined when the command changed nothing. */
  readonly position?: GlobalPosition;
}

export const MAX_ATTEMPTS = 5;

const sourceOfRequest = () => {
  const source = currentRequestSource();
  return source ? { source } : {};
};

/**
 * A uuid v7 (RFC 9562: the 48-bit Unix time in milliseconds, then random bits) made from
 * `crypto.randomUUID`, whose randomness Node draws in batches: the uuid package's v7 asks
 * for 16 random bytes per id, which was a few percent of an append's main-thread time.
 * Ids are unique, not ordered within a millisecond: nothing orders events by id (the log's
 * position does).
 */
export function eventIdV7(now = Date.now()): string {
  const time = now.toString(16).padStart(12, '0');
  // randomUUID is xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx (V the variant): keep its random tail, version 7.
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${randomUUID().slice(15)}`;
}

/** Stamp a domain event with the metadata every stored event carries. */
export function toNewEvent(event: DomainEvent, meta: CommandMetadata): NewEvent {
  const schema = eventSchemas[event.type];
  if (!schema) throw new Error(`unknown event type ${event.type}`);
  return {
    type: event.type,
    data: schema.parse(event.data),
    metadata: {
      eventId: eventIdV7(),
      occurredAt: meta.now.toISOString(),
      actor: meta.actor,
      correlationId: meta.correlationId,
      causationId: meta.causationId,
      schemaVersion: currentSchemaVersion(event.type),
      ...sourceOfRequest(),
    },
  };
}

/** A decider, with the snapshot policy of a long-lived stream when it has one (src/ports/snapshots.ts). */
export type PipelineDecider<State, Event extends DomainEvent> = Decider<State, Event> & {
  readonly snapshot?: SnapshotPolicy<State, Event>;
};

export interface CommandOptions {
  /** A stream many writers share (an organization's resource ledger) may need more retries. */
  readonly maxAttempts?: number;
  /** Cached states and durable snapshots, for deciders with a snapshot policy. */
  readonly states?: StreamStates;
}

/**
 * Events read per page when folding a stream. Between pages the fold yields
 * to the event loop, so a long stream never stalls other requests.
 */
export const PAGE_SIZE = 500;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The one way state changes: read the stream, fold it, decide, append with the
 * revision that was read. If another writer got there first, start over with
 * the newer state; after MAX_ATTEMPTS give up with a ConcurrencyError (409).
 *
 * Reading is bounded for long-lived streams (a decider with a snapshot
 * policy): a state cached in memory is brought up to date with the events
 * after its revision; otherwise the fold starts at the newest snapshot or
 * opening event. Every read goes in pages of PAGE_SIZE events, yielding to
 * the event loop between them.
 */
export async function handleCommand<State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: PipelineDecider<State, Event>,
  decide: (state: State) => Event[],
  meta: CommandMetadata,
  options?: CommandOptions,
): Promise<CommandResult<State>> {
  // The event store said it did not carry the request out (no leader, no connection):
  // run the command again from the read, a few times, before answering 503.
  for (let retry = 0; ; retry++) {
    try {
      return await decideAndAppend(store, streamName, decider, decide, meta, options);
    } catch (error) {
      if (!isRetryableStoreError(error) || retry >= TRANSIENT_RETRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** retry));
    }
  }
}

/** How often a command is run again after the event store said it could not carry it out. */
export const TRANSIENT_RETRIES = 3;

async function decideAndAppend<State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: PipelineDecider<State, Event>,
  decide: (state: State) => Event[],
  meta: CommandMetadata,
  options?: CommandOptions,
): Promise<CommandResult<State>> {
  const maxAttempts = options?.maxAttempts ?? MAX_ATTEMPTS;
  const states = decider.snapshot ? options?.states : undefined;
  for (let attempt = 1; ; attempt++) {
    const loaded = await load(store, streamName, decider, states, true);
    let state = loaded.state;
    const newEvents = decide(state);
    if (newEvents.length === 0) return { state, newEvents };
    const revision = loaded.revision ?? 'no_stream';
    try {
      const result = await store.appendToStream(
        streamName,
        newEvents.map((event) => toNewEvent(event, meta)),
        { expectedRevision: revision },
      );
      const entry = loaded.entry;
      if (entry && entry.revision === (loaded.revision ?? -1)) {
        // The cached state is still the one decided on: move it past our events.
        for (const event of newEvents) entry.state = decider.evolve(entry.state as State, event);
        entry.revision = result.nextExpectedRevision;
        state = entry.state as State;
        saveSnapshotIfDue(streamName, decider, entry, states!);
      } else if (entry) {
        // Another command already brought the cached state past our events.
        state = entry.state as State;
      } else {
        for (const event of newEvents) state = decider.evolve(state, event);
      }
      return { state, newEvents, position: result.position };
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      if (attempt >= maxAttempts) {
        throw new ConcurrencyError(`${streamName} changed concurrently ${attempt} times; try again`);
      }
    }
  }
}

/**
 * Read a stream and fold it, without deciding anything. A decider whose
 * evolve updates its state in place gets a state of its own, never the cached
 * one, since the caller may keep it across awaits.
 */
export async function loadState<State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: PipelineDecider<State, Event>,
  options?: Pick<CommandOptions, 'states'>,
): Promise<{ state: State; revision: number | undefined }> {
  const states = decider.snapshot ? options?.states : undefined;
  const { state, revision } = await load(store, streamName, decider, states, !decider.snapshot?.evolvesInPlace);
  return { state, revision };
}

interface Loaded<State> {
  readonly state: State;
  /** The revision folded up to; undefined: the stream does not exist. */
  readonly revision: number | undefined;
  /** The cache entry the state is, when it is one. */
  readonly entry?: CachedState;
}

async function load<State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: PipelineDecider<State, Event>,
  states: StreamStates | undefined,
  useCache: boolean,
): Promise<Loaded<State>> {
  const policy = decider.snapshot;
  if (states && useCache) {
    const entry = states.get(streamName, decider);
    if (entry && (await catchUp(store, streamName, decider, entry, states))) {
      return { state: entry.state as State, revision: entry.revision < 0 ? undefined : entry.revision, entry };
    }
    if (entry) states.forget(streamName);
  }

  // Cold: start at the newest opening event or snapshot, whichever is newer, else at the beginning.
  const snapshot = states && policy ? await states.store.load(streamName, policy.version) : undefined;
  if (snapshot) states!.stats.snapshotsLoaded++;
  let state = decider.initialState();
  let revision = -1;
  /** The newest revision the stream can be loaded from without folding before it: a snapshot's or an opening event's. */
  let snapshotRevision = snapshot?.revision ?? -1;
  const read = (events: readonly RecordedEvent[]) => {
    if (states) states.stats.eventsRead += events.length;
    return events;
  };
  if (policy?.opens) {
    const { events, opened } = await readBackToOpening(store, streamName, policy.opens as unknown as (event: RecordedEvent) => boolean, snapshot?.revision ?? -1);
    read(events);
    if (snapshot && !opened) {
      state = await restore(decider, policy, snapshot.chunks);
      revision = snapshot.revision;
    }
    if (opened) snapshotRevision = events[0]!.revision;
    state = await foldPaged(decider, events, state);
    revision = events.at(-1)?.revision ?? revision;
  } else {
    if (snapshot && policy) {
      state = await restore(decider, policy, snapshot.chunks);
      revision = snapshot.revision;
    }
    for (;;) {
      const page = read(await store.readStream(streamName, { fromRevision: revision + 1, maxCount: PAGE_SIZE }));
      state = fold(decider, page, state);
      revision = page.at(-1)?.revision ?? revision;
      if (page.length < PAGE_SIZE) break;
      await yieldToEventLoop();
    }
  }

  if (!states || !policy) return { state, revision: revision < 0 ? undefined : revision };
  const entry: CachedState = { decider, state, revision, snapshotRevision };
  saveSnapshotIfDue(streamName, decider, entry, states);
  if (!useCache) return { state, revision: revision < 0 ? undefined : revision };
  states.put(streamName, entry);
  return { state, revision: revision < 0 ? undefined : revision, entry };
}

/**
 * Bring a cached state up to date with the events after its revision. Several
 * commands may do this at once: each event is applied once, in order, by
 * whichever gets there first. False when the cache cannot be trusted (a gap).
 */
async function catchUp<State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: Decider<State, Event>,
  entry: CachedState,
  states: StreamStates,
): Promise<boolean> {
  for (;;) {
    const page = await store.readStream(streamName, { fromRevision: entry.revision + 1, maxCount: PAGE_SIZE });
    states.stats.eventsRead += page.length;
    // Another command may have applied some of these while this page was read.
    const fresh = page.filter((event) => event.revision > entry.revision);
    if (fresh.length > 0) {
      if (fresh[0]!.revision !== entry.revision + 1) return false;
      entry.state = fold(decider, fresh, entry.state as State);
      entry.revision = fresh.at(-1)!.revision;
    }
    if (page.length < PAGE_SIZE) return true;
    await yieldToEventLoop();
  }
}

/**
 * The newest events of a stream back to its newest opening event (included)
 * or down to `after` (excluded), in stream order; `opened` says which. Pages
 * grow from one event, since the newest event usually opens.
 */
async function readBackToOpening(
  store: EventStore,
  streamName: string,
  opens: (event: RecordedEvent) => boolean,
  after: number,
): Promise<{ events: RecordedEvent[]; opened: boolean }> {
  const newestFirst: RecordedEvent[] = [];
  let fromRevision: number | undefined;
  for (let pageSize = 1; ; pageSize = Math.min(pageSize * 4, PAGE_SIZE)) {
    const page = await store.readStream(streamName, { direction: 'backwards', maxCount: pageSize, ...(fromRevision !== undefined && { fromRevision }) });
    for (const event of page) {
      if (event.revision <= after) return { events: newestFirst.reverse(), opened: false };
      newestFirst.push(event);
      if (opens(event)) return { events: newestFirst.reverse(), opened: true };
    }
    const oldest = page.at(-1)?.revision;
    if (page.length < pageSize || oldest === undefined || oldest === 0) return { events: newestFirst.reverse(), opened: false };
    fromRevision = oldest - 1;
    await yieldToEventLoop();
  }
}

/** A snapshot's chunks folded back into a state, yielding between chunks. */
async function restore<State, Event extends DomainEvent>(
  decider: Decider<State, Event>,
  policy: SnapshotPolicy<State, Event>,
  chunks: readonly string[],
): Promise<State> {
  let state = decider.initialState();
  for (const [index, chunk] of chunks.entries()) {
    if (index > 0) await yieldToEventLoop();
    state = policy.restore(state, JSON.parse(chunk));
  }
  return state;
}

/** Fold events already in memory, a page at a time, yielding between pages. */
async function foldPaged<State, Event extends DomainEvent>(decider: Decider<State, Event>, events: readonly RecordedEvent[], state: State): Promise<State> {
  for (let start = 0; start < events.length; start += PAGE_SIZE) {
    if (start > 0) await yieldToEventLoop();
    state = fold(decider, events.slice(start, start + PAGE_SIZE), state);
  }
  return state;
}

/**
 * Save a snapshot once `every` events have been folded since the last one, in
 * the background: the command does not wait for it. The state is encoded at
 * once, so the snapshot is the state at `revision`; the chunks are then
 * serialized and written with yields between them. A snapshot is only a
 * cache: when saving fails the command has still succeeded.
 */
function saveSnapshotIfDue<State, Event extends DomainEvent>(
  streamName: string,
  decider: PipelineDecider<State, Event>,
  entry: CachedState,
  states: StreamStates,
): void {
  const policy = decider.snapshot;
  if (!policy || entry.revision - entry.snapshotRevision < states.options.every) return;
  const revision = entry.revision;
  // Taken at once (the policy's chunks are copies, or values evolve never changes), serialized a chunk at a time.
  const parts = Array.from(policy.encode(entry.state as State));
  const previous = entry.snapshotRevision;
  entry.snapshotRevision = revision;
  states.track(
    (async () => {
      try {
        const chunks: string[] = [];
        for (const part of parts) {
          if (chunks.length > 0) await yieldToEventLoop();
          chunks.push(JSON.stringify(part));
        }
        await states.store.save(streamName, policy.version, { revision, chunks });
        states.stats.snapshotsSaved++;
      } catch {
        if (entry.snapshotRevision === revision) entry.snapshotRevision = previous;
        states.stats.snapshotFailures++;
      }
    })(),
  );
}

/**
 * Fold a stream into a decider's state (from `state`, by default the initial
 * one). An event this version cannot read (the store hands it over as
 * `$unreadable`, already reported) or whose type it does not know (a newer
 * instance wrote it during a rolling deploy) is passed over: each decider's
 * evolve stays exhaustive over its own event types.
 */
const fold = <State, Event extends DomainEvent>(
  decider: Decider<State, Event>,
  history: readonly RecordedEvent[],
  state: State = decider.initialState(),
): State => {
  for (const event of history) {
    if (isKnownEventType(event.type)) state = decider.evolve(state, event as unknown as Event);
  }
  return state;
};
