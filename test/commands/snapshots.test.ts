import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { handleCommand, loadState } from '../../src/commands/pipeline.js';
import { StreamStates } from '../../src/commands/stream-states.js';
import { createGroup, groupDecider, updateGroup } from '../../src/domain/group/decider.js';
import { groupStream } from '../../src/domain/group/events.js';
import { createUser, updateUser, userDecider } from '../../src/domain/user/decider.js';
import { userStream } from '../../src/domain/user/events.js';
import { createAllocation, QuotaExceededError, type QuotaKind, resourceLedgerDecider, setQuotas, usageOf } from '../../src/domain/resource-ledger/decider.js';
import { resourceLedgerStream } from '../../src/domain/resource-ledger/events.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { SqliteSnapshotStore } from '../../src/infra/sqlite/sqlite-snapshot-store.js';
import type { EventStore, ReadStreamOptions, RecordedEvent } from '../../src/ports/event-store.js';
import { testEvent } from '../support/events.js';
import { tempDir } from '../support/temp.js';

const meta: CommandMetadata = { now: new Date('2026-01-02T03:04:05.000Z'), actor: { subject: 'alice', kind: 'user' }, correlationId: 'r', causationId: 'r' };
const organizationId = 'org-1';
const stream = resourceLedgerStream(organizationId);
const kinds: QuotaKind[] = [{ kind: 'servers', displayName: 'Servers', description: 'Servers.', default: 1_000_000 }];
const allocation = (n: number, servers = 1) => ({
  organizationId,
  projectId: `p-${n % 3}`,
  allocationId: `id-${n}`,
  name: `a-${n}`,
  tags: [],
  spec: { kind: 'cluster', id: 'c', allocations: [{ kind: 'servers', committed: servers, reserved: 0 }] },
});

/** The real store, counting the events that reads return (the assertions are about reads, not time). */
class CountingEventStore implements EventStore {
  eventsRead = 0;
  constructor(private readonly inner: EventStore) {}
  appendToStream: EventStore['appendToStream'] = (...args) => this.inner.appendToStream(...args);
  async readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    const events = await this.inner.readStream(streamName, options);
    this.eventsRead += events.length;
    return events;
  }
  readAll: EventStore['readAll'] = (...args) => this.inner.readAll(...args);
  subscribeToAll: EventStore['subscribeToAll'] = (...args) => this.inner.subscribeToAll(...args);
  headPosition: EventStore['headPosition'] = () => this.inner.headPosition();
  close: EventStore['close'] = () => this.inner.close();
}

async function withStores(run: (stores: { events: CountingEventStore; snapshots: SqliteSnapshotStore }) => Promise<void>) {
  const dir = tempDir();
  const file = join(dir.path, 'events.sqlite');
  const events = new CountingEventStore(new SqliteEventStore(file));
  const snapshots = new SqliteSnapshotStore(file);
  try {
    await run({ events, snapshots });
  } finally {
    await snapshots.close();
    await events.close();
    dir.remove();
  }
}

const allocate = (events: EventStore, states: StreamStates | undefined, n: number, servers = 1) =>
  handleCommand(events, stream, resourceLedgerDecider, (s) => createAllocation(s, allocation(n, servers), kinds), meta, { maxAttempts: 100, ...(states && { states }) });

describe('snapshots of long-lived streams', () => {
  test('a ledger with a snapshot reads only the events after it, and folds to the same state', async () => {
    await withStores(async ({ events, snapshots }) => {
      // No state kept in memory: every command loads from the snapshot store and the log.
      const states = new StreamStates(snapshots, { every: 100, cachedStreams: 0 });
      for (let n = 0; n < 250; n++) await allocate(events, states, n);
      await states.settled();
      assert.ok(states.stats.snapshotsSaved >= 2, 'one at least every 100 events');
      const saved = await snapshots.load(stream, resourceLedgerDecider.snapshot.version);
      assert.ok(saved && saved.revision >= 199 && saved.revision <= 249, `a snapshot at most 100 events old: ${saved?.revision}`);

      events.eventsRead = 0;
      await allocate(events, states, 250);
      assert.equal(events.eventsRead, 249 - saved.revision, 'only the events after the snapshot');

      const fromSnapshot = await loadState(events, stream, resourceLedgerDecider, { states });
      const fromScratch = await loadState(events, stream, resourceLedgerDecider);
      assert.equal(fromScratch.revision, 250);
      assert.equal(fromSnapshot.revision, 250);
      assert.deepEqual(fromSnapshot.state, fromScratch.state);
      assert.equal(usageOf(fromSnapshot.state, 'servers'), 251);
    });
  });

  test('a snapshot taken with another version of the decider is ignored', async () => {
    await withStores(async ({ events, snapshots }) => {
      const states = new StreamStates(snapshots, { every: 100, cachedStreams: 0 });
      for (let n = 0; n < 150; n++) await allocate(events, states, n);
      await states.settled();
      assert.ok((await snapshots.load(stream, resourceLedgerDecider.snapshot.version))?.revision! >= 99);
      // A changed decider (its policy's version bumped) must not trust the old snapshot...
      const changed = { ...resourceLedgerDecider, snapshot: { ...resourceLedgerDecider.snapshot, version: 'resource-ledger-test-changed' } };
      events.eventsRead = 0;
      const { state, revision } = await loadState(events, stream, changed, { states: new StreamStates(snapshots, { every: 1000, cachedStreams: 0 }) });
      await states.settled();
      assert.equal(events.eventsRead, 150, 'the whole stream was read');
      assert.equal(revision, 149);
      assert.equal(usageOf(state, 'servers'), 150);
      // ...even one that would be wrong for it: a snapshot of the old version that claims other quotas.
      await snapshots.save(stream, 'resource-ledger-test-changed-0', { revision: 149, chunks: [JSON.stringify({ quotas: [['servers', 1]], closedProjects: [], closed: true })] });
      assert.equal((await loadState(events, stream, changed, { states: new StreamStates(snapshots, { every: 1000, cachedStreams: 0 }) })).state.closed, false);
    });
  });

  test('two instances sharing the log: each keeps the ledger in memory and catches up, and the quota holds', async () => {
    await withStores(async ({ events, snapshots }) => {
      const a = new StreamStates(snapshots, { every: 1000, cachedStreams: 10 });
      const b = new StreamStates(snapshots, { every: 1000, cachedStreams: 10 });
      await handleCommand(events, stream, resourceLedgerDecider, (s) => setQuotas(s, { organizationId, quotas: [{ kind: 'servers', quantity: 10 }] }, kinds), meta, { states: a });
      const outcomes = await Promise.allSettled(Array.from({ length: 16 }, (_, n) => allocate(events, n % 2 === 0 ? a : b, n, 1)));
      const refused = outcomes.filter((o) => o.status === 'rejected');
      assert.equal(outcomes.length - refused.length, 10, 'exactly the quota was allocated');
      for (const o of refused) assert.ok((o as PromiseRejectedResult).reason instanceof QuotaExceededError, String((o as PromiseRejectedResult).reason));
      // Both caches agree with the log.
      const truth = await loadState(events, stream, resourceLedgerDecider);
      for (const states of [a, b]) {
        await assert.rejects(allocate(events, states, 100), QuotaExceededError);
        const cached = await loadState(events, stream, resourceLedgerDecider, { states });
        assert.deepEqual(cached.state, truth.state);
      }
      // A warm cache reads nothing when nothing was appended.
      events.eventsRead = 0;
      await assert.rejects(allocate(events, a, 101), QuotaExceededError);
      assert.equal(events.eventsRead, 0);
    });
  });

  test('a group of members added one at a time loads from its newest snapshot and the events after it', async () => {
    await withStores(async ({ events, snapshots }) => {
      const groupId = 'g-1';
      const details = (n: number) => ({ groupId, organizationId, name: 'team', tags: [], roleIDs: ['reader'], userIDs: Array.from({ length: n }, (_, i) => `u-${i}`), serviceAccountIDs: [] });
      const writer = new StreamStates(snapshots, { every: 100, cachedStreams: 10 });
      await handleCommand(events, groupStream(groupId), groupDecider, (s) => createGroup(s, details(0)), meta, { states: writer });
      // The API's PUT, whole list every time: one group.user.added each.
      for (let n = 1; n <= 305; n++) await handleCommand(events, groupStream(groupId), groupDecider, (s) => updateGroup(s, details(n)), meta, { states: writer });
      await writer.settled();
      assert.ok(writer.stats.snapshotsSaved >= 3);
      // created + role + 305 members: revisions 0..306.
      events.eventsRead = 0;
      const reader = new StreamStates(snapshots, { every: 100, cachedStreams: 0 });
      const { state, revision } = await loadState(events, groupStream(groupId), groupDecider, { states: reader });
      assert.equal(revision, 306);
      assert.equal(reader.stats.snapshotsLoaded, 1);
      // Six events after the snapshot, read backwards in pages of 1, 4, 16: not the 307 of the stream.
      assert.ok(events.eventsRead <= 21, `read ${events.eventsRead} events`);
      const full = await loadState(events, groupStream(groupId), groupDecider);
      assert.ok(state.status === 'active' && full.state.status === 'active');
      assert.deepEqual([...state.userIDs].sort(), [...full.state.userIDs].sort());
      assert.equal(state.userIDs.size, 305);
      assert.deepEqual([...state.roleIDs], ['reader']);
    });
  });
});

describe('user streams', () => {
  test('a user loads from its newest whole-state event, past the activity older versions wrote into its stream', async () => {
    await withStores(async ({ events }) => {
      const userId = 'u-1';
      const details = (n: number) => ({ userId, organizationId, name: `user-${n}`, tags: [], subject: 'ada@example.com', state: 'active' as const });
      await handleCommand(events, userStream(userId), userDecider, (s) => createUser(s, details(0)), meta);
      for (let n = 1; n <= 200; n++) await handleCommand(events, userStream(userId), userDecider, (s) => updateUser(s, details(n)), meta);
      // Activity as versions before useractivity-<id> recorded it: in the user's own stream.
      await events.appendToStream(
        userStream(userId),
        Array.from({ length: 50 }, () => testEvent('user.activity.recorded', { userId, organizationId, at: '2026-01-01T00:00:00.000Z' })),
        { expectedRevision: 'any' },
      );
      events.eventsRead = 0;
      const { state, revision } = await loadState(events, userStream(userId), userDecider);
      // The 50 activity events and the newest update, in growing backward pages: not the 251 of the whole stream.
      assert.ok(events.eventsRead >= 51 && events.eventsRead < 100, `read ${events.eventsRead} events`);
      assert.equal(revision, 250);
      assert.equal(state.status === 'exists' && state.name, 'user-200');
      // A command decides on that state and appends at the right revision.
      const updated = await handleCommand(events, userStream(userId), userDecider, (s) => updateUser(s, details(201)), meta);
      assert.equal(updated.state.status === 'exists' && updated.state.name, 'user-201');
    });
  });
});

describe('the SQLite snapshot store', () => {
  const chunks = (revision: number, count: number) => Array.from({ length: count }, (_, i) => JSON.stringify({ revision, i }));

  test('keeps the newest snapshot per stream and version; an older one is ignored', async () => {
    await withStores(async ({ snapshots }) => {
      await snapshots.save('s', 'v1', { revision: 5, chunks: chunks(5, 3) });
      await snapshots.save('s', 'v1', { revision: 3, chunks: chunks(3, 2) });
      assert.deepEqual(await snapshots.load('s', 'v1'), { revision: 5, chunks: chunks(5, 3) });
      await snapshots.save('s', 'v1', { revision: 9, chunks: chunks(9, 30) });
      assert.deepEqual(await snapshots.load('s', 'v1'), { revision: 9, chunks: chunks(9, 30) });
      await snapshots.save('s', 'v2', { revision: 1, chunks: chunks(1, 1) });
      assert.deepEqual(await snapshots.load('s', 'v2'), { revision: 1, chunks: chunks(1, 1) });
      assert.equal((await snapshots.load('s', 'v1'))?.revision, 9, 'versions are kept apart');
      assert.equal(await snapshots.load('other', 'v1'), undefined);
    });
  });

  test('a load while the snapshot is replaced answers the whole old snapshot or none, never a mix', async () => {
    await withStores(async ({ snapshots }) => {
      await snapshots.save('s', 'v1', { revision: 5, chunks: chunks(5, 40) });
      for (let round = 0; round < 5; round++) {
        const revision = 6 + round;
        const [loaded] = await Promise.all([snapshots.load('s', 'v1'), snapshots.save('s', 'v1', { revision, chunks: chunks(revision, 40) })]);
        if (loaded) assert.deepEqual(loaded, { revision: loaded.revision, chunks: chunks(loaded.revision, 40) });
        assert.deepEqual(await snapshots.load('s', 'v1'), { revision, chunks: chunks(revision, 40) });
      }
    });
  });
});
