import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { createPool } from '../../src/infra/postgres/pg-schema.js';
import { APPEND_LOCK } from '../../src/infra/postgres/pg-schema.js';
import { PgEventStore } from '../../src/infra/postgres/pg-event-store.js';
import { TOMBSTONE_EVENT_TYPE } from '../../src/domain/retention.js';
import type { EventStore, RecordedEvent, ScavengePolicy, Subscription } from '../../src/ports/event-store.js';
import { testEvent } from '../support/events.js';
import { freshDatabase, postgresSkipReason } from '../support/postgres.js';

const skip = await postgresSkipReason();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything a subscription delivers, as it arrives, until closed. */
function record(store: EventStore, after?: RecordedEvent['position']): { events: RecordedEvent[]; subscription: Subscription; done: Promise<void> } {
  const subscription = store.subscribeToAll({ after });
  const events: RecordedEvent[] = [];
  const done = (async () => {
    for await (const event of subscription) events.push(event);
  })();
  return { events, subscription, done };
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Positions are gap-free and commit-ordered: each delivered event is exactly one after the previous one. */
function assertContiguous(events: readonly RecordedEvent[], from: bigint): void {
  events.forEach((event, i) => assert.equal(event.position.commit, from + BigInt(i + 1), `event ${i} at ${event.position.commit}, expected ${from + BigInt(i + 1)}`));
}

describe('PostgreSQL event store', { skip }, () => {
  test('a transaction that commits late is delivered before everything committed after it: no skip, no reordering', async () => {
    const url = await freshDatabase();
    const store = await PgEventStore.open(url);
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      await store.appendToStream('before', [testEvent('late.before')], { expectedRevision: 'no_stream' });
      const seen = record(store);
      await until(() => seen.events.length === 1);

      // Another writer (another instance) is in the middle of an append: it holds the append lock, has
      // inserted its event, and has not committed.
      await raw.query('BEGIN');
      await raw.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK.toString()]);
      const head = BigInt((await raw.query<{ head: string }>('SELECT MAX(position) AS head FROM events')).rows[0]!.head);
      await raw.query(
        `INSERT INTO events (position, stream_name, revision, event_id, type, data, metadata) VALUES ($1, 'late', 0, 'late-event', 'late.committed', '{}', $2)`,
        [(head + 1n).toString(), JSON.stringify(testEvent().metadata)],
      );

      // Meanwhile this instance's writers append; none may be delivered ahead of the open transaction.
      let appended = 0;
      const appends = Array.from({ length: 20 }, (_, i) =>
        store.appendToStream(`after-${i}`, [testEvent('late.after', { i })], { expectedRevision: 'no_stream' }).then((result) => {
          appended++;
          return result;
        }),
      );
      await sleep(1500); // longer than the poll interval: the subscriber looked more than once
      assert.equal(appended, 0, 'later appends wait for the open transaction');
      assert.equal(seen.events.length, 1, 'nothing is delivered while a lower position is uncommitted');

      await raw.query('COMMIT');
      const results = await Promise.all(appends);
      await until(() => seen.events.length === 22);
      await seen.subscription.close();
      await seen.done;

      assert.equal(seen.events[1]!.type, 'late.committed', 'the late commit comes first, at the position it was given');
      assert.equal(seen.events[1]!.position.commit, head + 1n);
      assertContiguous(seen.events.slice(1), head);
      const delivered = new Set(seen.events.map((e) => e.position.commit));
      for (const result of results) assert.ok(delivered.has(result.position.commit), 'every append was delivered');
    } finally {
      await raw.end();
      await store.close();
    }
  });

  test('two instances writing at once: a third sees every event once, in one gap-free order', async () => {
    const url = await freshDatabase();
    const [a, b, reader] = await Promise.all([PgEventStore.open(url), PgEventStore.open(url), PgEventStore.open(url)]);
    try {
      const seen = record(reader);
      const write = (store: EventStore, label: string) =>
        Promise.all(
          Array.from({ length: 16 }, async (_, w) => {
            for (let i = 0; i < 25; i++) await store.appendToStream(`${label}-${w}`, [testEvent('race.written', { i })], { expectedRevision: i === 0 ? 'no_stream' : i - 1 });
          }),
        );
      await Promise.all([write(a, 'a'), write(b, 'b')]);
      await until(() => seen.events.length === 800);
      await sleep(100);
      await seen.subscription.close();
      await seen.done;
      assert.equal(seen.events.length, 800, 'no duplicate');
      assertContiguous(seen.events, 0n);
      const perStream = new Map<string, number[]>();
      for (const e of seen.events) perStream.set(e.streamName, [...(perStream.get(e.streamName) ?? []), e.revision]);
      assert.equal(perStream.size, 32);
      for (const revisions of perStream.values()) assert.deepEqual(revisions, Array.from({ length: 25 }, (_, i) => i));
    } finally {
      await Promise.all([a.close(), b.close(), reader.close()]);
    }
  });

  test('positions stay exact when the database defaults to repeatable read', async () => {
    const url = await freshDatabase();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`ALTER DATABASE ${new URL(url).pathname.slice(1)} SET default_transaction_isolation = 'repeatable read'`);
    await admin.end();
    const [a, b] = await Promise.all([PgEventStore.open(url), PgEventStore.open(url)]);
    try {
      const write = (store: EventStore, label: string) =>
        Promise.all(
          Array.from({ length: 8 }, async (_, w) => {
            for (let i = 0; i < 10; i++) await store.appendToStream(`${label}-${w}`, [testEvent()], { expectedRevision: i === 0 ? 'no_stream' : i - 1 });
          }),
        );
      await Promise.all([write(a, 'a'), write(b, 'b')]);
      assertContiguous(await a.readAll(), 0n);
      assert.equal((await a.readAll()).length, 160);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('another instance wakes a subscriber by NOTIFY, long before its poll would', async () => {
    const url = await freshDatabase();
    const writer = await PgEventStore.open(url);
    const reader = await PgEventStore.open(url, { pollIntervalMs: 60_000 });
    try {
      const seen = record(reader);
      await sleep(50);
      const started = Date.now();
      await writer.appendToStream('notified', [testEvent('notify.sent')], { expectedRevision: 'no_stream' });
      await until(() => seen.events.length === 1, 5000);
      assert.ok(Date.now() - started < 2000, `delivered in ${Date.now() - started} ms`);
      await seen.subscription.close();
      await seen.done;
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  test('without a listener (no notifications), the poll still delivers', async () => {
    const url = await freshDatabase();
    const writer = await PgEventStore.open(url);
    const pool = createPool(url, 2);
    const reader = await PgEventStore.usingPool(pool, { pollIntervalMs: 200 });
    try {
      const seen = record(reader);
      await writer.appendToStream('polled', [testEvent('poll.found')], { expectedRevision: 'no_stream' });
      await until(() => seen.events.length === 1, 5000);
      await seen.subscription.close();
      await seen.done;
    } finally {
      await Promise.all([writer.close(), reader.close()]);
      await pool.end();
    }
  });

  test('a subscriber far behind reads the database, then the tail in memory, without a gap at the switch', async () => {
    const url = await freshDatabase();
    const writer = await PgEventStore.open(url);
    try {
      // More than the tail keeps in memory (8192), in big appends.
      for (let batch = 0; batch < 10; batch++) {
        await writer.appendToStream(`bulk-${batch}`, Array.from({ length: 1000 }, (_, i) => testEvent('bulk.written', { i })), { expectedRevision: 'no_stream' });
      }
      const seen = record(writer);
      await until(() => seen.events.length === 10_000, 20_000);
      await writer.appendToStream('bulk-live', [testEvent('bulk.live')], { expectedRevision: 'no_stream' });
      await until(() => seen.events.length === 10_001);
      await seen.subscription.close();
      await seen.done;
      assertContiguous(seen.events, 0n);
    } finally {
      await writer.close();
    }
  });

  test('scavenge replaces removable events by tombstones in place, once, and reads skip them', async () => {
    const url = await freshDatabase();
    const store = await PgEventStore.open(url);
    try {
      const written = [];
      for (let i = 0; i < 5; i++) written.push(await store.appendToStream('session-x', [testEvent('session.refreshed', { i })], { expectedRevision: i === 0 ? 'no_stream' : i - 1 }));
      await store.appendToStream('user-y', [testEvent('user.kept')], { expectedRevision: 'no_stream' });
      // Everything may go: the newest event of each stream stays anyway.
      const policy: ScavengePolicy = { categories: ['session-'], removable: (_stream, events) => events.map((e) => e.revision) };
      const report = await store.scavenge(policy);
      assert.deepEqual(report, { streams: 1, removed: 4 });
      assert.deepEqual((await store.readStream('session-x')).map((e) => e.revision), [4]);
      assert.deepEqual((await store.readAll()).map((e) => e.type), ['session.refreshed', 'user.kept']);
      const [tombstone] = await store.readPositions([written[0]!.position]);
      assert.equal(tombstone?.type, TOMBSTONE_EVENT_TYPE);
      assert.match((tombstone?.data as { sha256: string }).sha256, /^[0-9a-f]{64}$/);
      assert.deepEqual(tombstone?.metadata, {});
      assert.deepEqual(await store.scavenge(policy), { streams: 1, removed: 0 }, 'idempotent');
      // Positions stay: the next append continues after the head.
      const next = await store.appendToStream('user-y', [testEvent('user.kept')], { expectedRevision: 0 });
      assert.equal(next.position.commit, 7n);
    } finally {
      await store.close();
    }
  });

  test('a duplicate event id fails only its own append in a batch', async () => {
    const url = await freshDatabase();
    const store = await PgEventStore.open(url);
    try {
      const event = testEvent('dup.first');
      await store.appendToStream('dup', [event], { expectedRevision: 'no_stream' });
      const [again, other] = await Promise.allSettled([
        store.appendToStream('dup-2', [event], { expectedRevision: 'any' }),
        store.appendToStream('other', [testEvent('dup.other')], { expectedRevision: 'no_stream' }),
      ]);
      assert.equal(again.status, 'rejected');
      assert.equal(other.status, 'fulfilled');
      assert.equal((await store.readAll()).length, 2);
    } finally {
      await store.close();
    }
  });

  test('appends queued when the store closes still reach the database', async () => {
    const url = await freshDatabase();
    const store = await PgEventStore.open(url);
    const appends = Array.from({ length: 50 }, (_, i) => store.appendToStream(`closing-${i}`, [testEvent()], { expectedRevision: 'no_stream' }));
    await store.close();
    await Promise.all(appends);
    await assert.rejects(store.appendToStream('late', [testEvent()], { expectedRevision: 'any' }), /closed/);
    const reopened = await PgEventStore.open(url);
    try {
      assert.equal((await reopened.readAll()).length, 50);
    } finally {
      await reopened.close();
    }
  });
});
