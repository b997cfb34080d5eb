import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { toNewEvent } from '../../src/commands/pipeline.js';
import { eventLeafHash } from '../../src/domain/ledger/leaf.js';
import { eventDigest, retentionPolicy, TOMBSTONE_EVENT_TYPE } from '../../src/domain/retention.js';
import type { SessionEvent } from '../../src/domain/session/events.js';
import { EvolvingEventStore } from '../../src/infra/events/evolving-event-store.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { RecordedEvent } from '../../src/ports/event-store.js';
import { tempDir } from '../support/temp.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const policy = retentionPolicy({ sessionEventRetentionMs: 7 * DAY, userActivityRetentionMs: DAY, refreshAbsoluteLifetimeMs: 90 * DAY, refreshIdleLifetimeMs: 30 * DAY });
const at = (day: number) => new Date(T0 + day * DAY);

const facts = (sessionId: string, day: number, refreshCount = 0) => ({
  sessionId,
  clientId: 'client',
  subjectId: 'user',
  subjectKind: 'user' as const,
  organizationId: 'org',
  scope: 'openid offline_access',
  authTime: Math.floor(at(day).getTime() / 1000),
  refreshCount,
  refreshTokenSha256: 'a'.repeat(64),
});
const sessionEvent = (event: SessionEvent, day: number) =>
  toNewEvent(event, { now: at(day), actor: { subject: 'user', kind: 'user' }, correlationId: 'r', causationId: 'r' });

async function withStore(run: (store: EvolvingEventStore, raw: SqliteEventStore, file: string) => Promise<void>) {
  const dir = tempDir();
  const file = join(dir.path, 'events.sqlite');
  const raw = new SqliteEventStore(file);
  try {
    await run(new EvolvingEventStore(raw), raw, file);
  } finally {
    await raw.close();
    dir.remove();
  }
}

/**
 * A user session (g1 superseded by g2 on day 3: g1's two rotations go from
 * day 10) and another stream in between (never touched).
 */
async function writeSession(store: EvolvingEventStore, stream = 'session-client-user') {
  await store.appendToStream(stream, [sessionEvent({ type: 'session.started', data: facts('g1', 0) }, 0)], { expectedRevision: 'no_stream' });
  await store.appendToStream('user-user', [toNewEvent({ type: 'user.activity.recorded', data: { userId: 'user', organizationId: 'org', at: at(0).toISOString() } }, { now: at(0), actor: { subject: 'user', kind: 'user' }, correlationId: 'r', causationId: 'r' })], { expectedRevision: 'any' });
  await store.appendToStream(stream, [sessionEvent({ type: 'session.refreshed', data: facts('g1', 0, 1) }, 1)], { expectedRevision: 0 });
  await store.appendToStream(stream, [sessionEvent({ type: 'session.refreshed', data: facts('g1', 0, 2) }, 2)], { expectedRevision: 1 });
  await store.appendToStream(stream, [sessionEvent({ type: 'session.started', data: facts('g2', 3) }, 3)], { expectedRevision: 2 });
  await store.appendToStream(stream, [sessionEvent({ type: 'session.refreshed', data: facts('g2', 3, 1) }, 4)], { expectedRevision: 3 });
}

const rowsOf = (file: string, stream: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT position, revision, event_id, type, data, metadata FROM events WHERE stream_name = ? ORDER BY revision').all(stream) as Array<{
      position: number;
      revision: number;
      event_id: string;
      type: string;
      data: string;
      metadata: string;
    }>;
  } finally {
    db.close();
  }
};

const collect = async (store: EvolvingEventStore, count: number): Promise<RecordedEvent[]> => {
  const subscription = store.subscribeToAll();
  const events: RecordedEvent[] = [];
  for await (const event of subscription) {
    events.push(event);
    if (events.length === count) break;
  }
  await subscription.close();
  return events;
};

describe('SQLite scavenger: tombstones in place', () => {
  test('removes exactly the eligible events; tombstones keep position, revision and event id, and carry the hash of the original', async () => {
    await withStore(async (store, _raw, file) => {
      await writeSession(store);
      const before = rowsOf(file, 'session-client-user');
      const originals = await store.readStream('session-client-user');

      assert.deepEqual(await store.scavenge!(policy, { now: at(9) }), { streams: 1, removed: 0, bytesFreed: 0 }, 'six days after the supersession: nothing yet');
      const report = await store.scavenge!(policy, { now: at(10) });
      assert.equal(report.removed, 2);

      const after = rowsOf(file, 'session-client-user');
      assert.deepEqual(after.map((row) => [row.position, row.revision, row.event_id]), before.map((row) => [row.position, row.revision, row.event_id]));
      assert.deepEqual(after.map((row) => row.type), ['session.started', TOMBSTONE_EVENT_TYPE, TOMBSTONE_EVENT_TYPE, 'session.started', 'session.refreshed']);
      for (const revision of [1, 2]) {
        const original = originals.find((event) => event.revision === revision)!;
        assert.deepEqual(JSON.parse(after[revision]!.data), { sha256: eventDigest(original), leafHash: eventLeafHash(original).toString('base64') });
        assert.equal(after[revision]!.metadata, '{}', 'nothing of the original but its hash');
      }
      assert.deepEqual(rowsOf(file, 'user-user').map((row) => row.type), ['user.activity.recorded'], 'other categories untouched');
      assert.equal((await store.scavenge!(policy, { now: at(100) })).removed, 0, 'idempotent');
    });
  });

  test('reads skip tombstones: streams forwards and backwards, the log, subscriptions (also from the in-memory recent events)', async () => {
    await withStore(async (store) => {
      await writeSession(store);
      await store.scavenge!(policy, { now: at(10) });
      assert.deepEqual((await store.readStream('session-client-user')).map((e) => e.revision), [0, 3, 4]);
      assert.deepEqual((await store.readStream('session-client-user', { direction: 'backwards' })).map((e) => e.revision), [4, 3, 0]);
      assert.deepEqual((await store.readStream('session-client-user', { fromRevision: 1, maxCount: 1 })).map((e) => e.revision), [3]);
      assert.deepEqual((await store.readAll()).map((e) => Number(e.position.commit)), [1, 2, 5, 6]);
      assert.deepEqual((await store.readAll({ after: { commit: 2n, prepare: 2n }, maxCount: 1 })).map((e) => Number(e.position.commit)), [5]);
      assert.deepEqual((await collect(store, 4)).map((e) => Number(e.position.commit)), [1, 2, 5, 6]);
      assert.equal((await store.headPosition())?.commit, 6n);
    });
  });

  test('after a reopen (no recent events in memory) reads skip them too, and appends at the expected revision go on', async () => {
    const dir = tempDir();
    const file = join(dir.path, 'events.sqlite');
    try {
      let raw = new SqliteEventStore(file);
      await writeSession(new EvolvingEventStore(raw));
      await new EvolvingEventStore(raw).scavenge!(policy, { now: at(10) });
      await raw.close();
      raw = new SqliteEventStore(file);
      const store = new EvolvingEventStore(raw);
      assert.deepEqual((await collect(store, 4)).map((e) => Number(e.position.commit)), [1, 2, 5, 6]);
      const appended = await store.appendToStream('session-client-user', [sessionEvent({ type: 'session.refreshed', data: facts('g2', 3, 2) }, 11)], { expectedRevision: 4 });
      assert.equal(appended.nextExpectedRevision, 5);
      await assert.rejects(store.appendToStream('session-client-user', [sessionEvent({ type: 'session.refreshed', data: facts('g2', 3, 2) }, 11)], { expectedRevision: 2 }), /expected revision 2, actual 5/);
      await raw.close();
    } finally {
      dir.remove();
    }
  });

  test('in pages (one tombstone a transaction: a stream spans pages), beside concurrent appends: every append lands, every eligible event of every stream goes, the newest events stay', async () => {
    await withStore(async (store) => {
      const streams = Array.from({ length: 250 }, (_, i) => `session-client-user${String(i).padStart(3, '0')}`);
      for (const stream of streams) await writeSession(store, stream);
      const scavenging = store.scavenge!(policy, { now: at(10), streamsPerPage: 7, rowsPerPage: 1 });
      // Appends while the scavenger works its pages: each stream gets a newer rotation.
      const appends = Promise.all(streams.map((stream) => store.appendToStream(stream, [sessionEvent({ type: 'session.refreshed', data: facts('g2', 3, 2) }, 5)], { expectedRevision: 4 })));
      const [report] = await Promise.all([scavenging, appends]);
      assert.equal(report.removed, 500);
      assert.equal(report.streams, 250);
      for (const stream of streams) assert.deepEqual((await store.readStream(stream)).map((e) => e.revision), [0, 3, 4, 5], stream);
    });
  });

  test('a file created with it gives freed pages back (auto_vacuum=INCREMENTAL)', async () => {
    await withStore(async (_store, raw, file) => {
      const db = new Database(file, { readonly: true });
      assert.equal(db.pragma('auto_vacuum', { simple: true }), 2);
      db.close();
      assert.equal(await raw.vacuumFreePages(), 0, 'nothing to free yet');
    });
  });
});
