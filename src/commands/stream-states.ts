import type { Decider, DomainEvent } from '../domain/shared/decider.js';
import type { SnapshotStore } from '../ports/snapshots.js';

/** A stream's state as folded up to `revision`, kept in memory between commands. */
export interface CachedState {
  readonly decider: Decider<any, any>;
  state: unknown;
  revision: number;
  /** The revision of the newest snapshot saved (or loaded) for it; -1: none. */
  snapshotRevision: number;
}

export interface StreamStatesOptions {
  /** A snapshot is saved once this many events have been appended since the last one (SNAPSHOT_EVERY). */
  readonly every: number;
  /** How many streams' states are kept in memory, least recently used dropped first (SNAPSHOT_CACHED_STREAMS). */
  readonly cachedStreams: number;
}

/**
 * What the command pipeline keeps of long-lived streams whose decider has a
 * snapshot policy: their states in memory (an LRU of recently used streams,
 * which a command brings up to date by reading only the events after the
 * cached revision), and durable snapshots beside the stream (for a start, an
 * evicted stream, or another instance), saved every `every` events.
 */
export class StreamStates {
  private readonly cache = new Map<string, CachedState>();
  /** Counters, for tests and the benchmark: events read from the store by loads, snapshots saved. */
  readonly stats = { eventsRead: 0, snapshotsSaved: 0, snapshotsLoaded: 0, snapshotFailures: 0 };

  constructor(
    readonly store: SnapshotStore,
    readonly options: StreamStatesOptions,
  ) {}

  get<State, Event extends DomainEvent>(streamName: string, decider: Decider<State, Event>): CachedState | undefined {
    const entry = this.cache.get(streamName);
    if (!entry || entry.decider !== decider) return undefined;
    // Most recently used last.
    this.cache.delete(streamName);
    this.cache.set(streamName, entry);
    return entry;
  }

  put(streamName: string, entry: CachedState): void {
    this.cache.delete(streamName);
    this.cache.set(streamName, entry);
    for (const name of this.cache.keys()) {
      if (this.cache.size <= this.options.cachedStreams) break;
      this.cache.delete(name);
    }
  }

  forget(streamName: string): void {
    this.cache.delete(streamName);
  }

  private readonly saving = new Set<Promise<void>>();

  /** A snapshot being saved in the background (its promise never rejects). */
  track(saving: Promise<void>): void {
    this.saving.add(saving);
    void saving.finally(() => this.saving.delete(saving));
  }

  /** Resolves once every snapshot being saved is written (before closing the store; in tests). */
  async settled(): Promise<void> {
    while (this.saving.size > 0) await Promise.all(this.saving);
  }
}
