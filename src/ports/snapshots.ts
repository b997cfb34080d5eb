/**
 * Snapshots of long-lived streams (an organization's resource ledger, a
 * group): a decider's state at one revision of its stream, kept beside the
 * stream, so that loading the stream reads only the events after it.
 *
 * A snapshot is tagged with the version of the decider's snapshot policy: a
 * decider whose state or evolve changed gets a new version and ignores every
 * snapshot of the old one (which is still kept for instances that run the
 * old code during a rolling deploy). A snapshot is only ever a cache: deleting
 * every snapshot changes nothing but how long the next load takes.
 */

/** A decider's state at `revision` (the last event folded into it), as JSON texts. */
export interface StoredSnapshot {
  readonly revision: number;
  /** The state in chunks of bounded size, each a JSON text; restored in order. */
  readonly chunks: readonly string[];
}

export interface SnapshotStore {
  /** The newest snapshot of the stream taken with this policy version, if any. */
  load(streamName: string, version: string): Promise<StoredSnapshot | undefined>;
  /** Keep this snapshot in place of an older one of the same version; an older or equal revision is ignored. */
  save(streamName: string, version: string, snapshot: StoredSnapshot): Promise<void>;
  close(): Promise<void>;
}

/**
 * How a decider's state is snapshotted and loaded. A decider declares it as
 * its `snapshot` property; the command pipeline (src/commands/pipeline.ts)
 * uses it.
 */
export interface SnapshotPolicy<State, Event> {
  /** Change it whenever the state's shape or `evolve` changes: snapshots of other versions are ignored. */
  readonly version: string;
  /**
   * The state as JSON-able chunks, each of bounded size. The chunks are taken
   * at once and serialized later, a chunk at a time, while the state may
   * evolve further: they must be copies, or values that evolve never changes.
   */
  encode(state: State): Iterable<unknown>;
  /** Fold one chunk (in encoding order) into a state that starts as the decider's initialState. */
  restore(state: State, chunk: unknown): State;
  /**
   * `evolve` updates the state in place (so that it does constant work per
   * event): a loaded state must not be shared with a reader that keeps it.
   */
  readonly evolvesInPlace?: boolean;
  /**
   * An event that carries the whole state: the fold may start at the newest
   * such event, from the initial state, so a load reads the stream backwards
   * only as far as that event (an opening balance).
   */
  readonly opens?: (event: Event) => boolean;
}

/**
 * The policy of a decider whose events of `types` each carry the whole state
 * (an opening balance): a load starts at the newest of them, and a snapshot,
 * should one be taken, is the state itself. Only the types this code knows
 * open a stream: an event of a newer version is not an opening it can read.
 */
export function openingBalances<State, Event extends { readonly type: string }>(version: string, types: readonly Event['type'][]): SnapshotPolicy<State, Event> {
  const opening = new Set<string>(types);
  return {
    version,
    opens: (event) => opening.has(event.type),
    *encode(state) {
      yield state;
    },
    restore: (_state, chunk) => chunk as State,
  };
}

/** For adapters that keep no snapshots (EventStoreDB, for now): every load folds from the stream. */
export class NoSnapshots implements SnapshotStore {
  async load(): Promise<undefined> {
    return undefined;
  }
  async save(): Promise<void> {}
  async close(): Promise<void> {}
}
