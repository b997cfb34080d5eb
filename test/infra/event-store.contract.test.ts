import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { v4 as uuidv4 } from 'uuid';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { PgEventStore } from '../../src/infra/postgres/pg-event-store.js';
import {
  comparePositions,
  type EventStore,
  type RecordedEvent,
  WrongExpectedRevisionError,
} from '../../src/ports/event-store.js';
import { testEvent } from '../support/events.js';
import { tempDir } from '../support/temp.js';
import { freshDatabase, postgresSkipReason } from '../support/postgres.js';

interface Adapter {
  readonly name: string;
  /** Why the adapter cannot run here, if it cannot. */
  readonly skip?: string;
  open(): Promise<EventStore>;
  /** Close and open the same storage again. */
  reopen?(store: EventStore): Promise<EventStore>;
  cleanup(): Promise<void>;
}

const sqlite = (): Adapter => {
  const dir = tempDir();
  const file = join(dir.path, 'events.sqlite');
  return {
    name: 'SQLite',
    open: async () => new SqliteEventStore(file),
    reopen: async (store) => {
      await store.close();
      return new SqliteEventStore(file);
    },
    cleanup: async () => dir.remove(),
  };
};

const eventStoreDb = (): Adapter => {
  const connectionString = process.env.EVENTSTORE_CONNECTION_STRING;
  return {
    name: 'EventStoreDB',
    skip: connectionString ? undefined : 'EventStoreDB skipped: EVENTSTORE_CONNECTION_STRING is not set (no server on this machine)',
    open: async () => {
      const { EventStoreDbEventStore } = await import('../../src/infra/eventstoredb/eventstoredb-event-store.js');
      return EventStoreDbEventStore.connect(connectionString!);
    },
    reopen: async (store) => {
      await store.close();
      const { EventStoreDbEventStore } = await import('../../src/infra/eventstoredb/eventstoredb-event-store.js');
      return EventStoreDbEventStore.connect(connectionString!);
    },
    cleanup: async () => {},
  };
};

const postgresSkip = await postgresSkipReason();

const postgres = (): Adapter => {
  let url: string | undefined;
  return {
    name: 'PostgreSQL',
    skip: postgresSkip,
    open: async () => PgEventStore.open((url = await freshDatabase())),
    reopen: async (store) => {
      await store.close();
      return PgEventStore.open(url!);
    },
    cleanup: async () => {},
  };
};

/** Stream names unique to this run, so the suite can share a server with anything. */
const streamName = (label: string) => `contract-${label}-${uuidv4()}`;

async function collect(store: EventStore, count: number, after: RecordedEvent['position'] | undefined, belongs: (e: RecordedEvent) => boolean) {
  const subscription = store.subscribeToAll({ after });
  const received: RecordedEvent[] = [];
  for await (const event of subscription) {
    if (!belongs(event)) continue;
    received.push(event);
    if (received.length === count) break;
  }
  await subscription.close();
  return received;
}

for (const makeAdapter of [sqlite, postgres, eventStoreDb]) {
  const adapter = makeAdapter();
  describe(`event store contract: ${adapter.name}`, { skip: adapter.skip }, () => {
    let store: EventStore;
    before(async () => {
      store = await adapter.open();
    });
    after(async () => {
      await store?.close();
      await adapter.cleanup();
    });

    test('appends and reads a stream forwards and backwards', async () => {
      const stream = streamName('read');
      const first = await store.appendToStream(stream, [testEvent('a.happened', { n: 0 }), testEvent('a.happened', { n: 1 })], { expectedRevision: 'no_stream' });
      assert.equal(first.nextExpectedRevision, 1);
      const second = await store.appendToStream(stream, [testEvent('a.happened', { n: 2 })], { expectedRevision: 1 });
      assert.equal(second.nextExpectedRevision, 2);
      assert.ok(comparePositions(second.position, first.position) > 0, 'global position grows');

      const forwards = await store.readStream(stream);
      assert.deepEqual(forwards.map((e) => (e.data as { n: number }).n), [0, 1, 2]);
      assert.deepEqual(forwards.map((e) => e.revision), [0, 1, 2]);
      assert.equal(forwards[0]!.streamName, stream);
      assert.equal(forwards[0]!.metadata.actor.subject, 'tester');

      const backwards = await store.readStream(stream, { direction: 'backwards', maxCount: 2 });
      assert.deepEqual(backwards.map((e) => e.revision), [2, 1]);
      const fromOne = await store.readStream(stream, { fromRevision: 1 });
      assert.deepEqual(fromOne.map((e) => e.revision), [1, 2]);
      assert.deepEqual(await store.readStream(streamName('missing')), []);
    });

    test('checks the expected revision: no stream, any, exact', async () => {
      const stream = streamName('expected');
      await store.appendToStream(stream, [testEvent()], { expectedRevision: 'no_stream' });
      await assert.rejects(store.appendToStream(stream, [testEvent()], { expectedRevision: 'no_stream' }), WrongExpectedRevisionError);
      await assert.rejects(store.appendToStream(stream, [testEvent()], { expectedRevision: 5 }), (error: unknown) => {
        assert.ok(error instanceof WrongExpectedRevisionError);
        assert.equal(error.actual, 0);
        return true;
      });
      await assert.rejects(store.appendToStream(streamName('absent'), [testEvent()], { expectedRevision: 0 }), WrongExpectedRevisionError);
      const any = await store.appendToStream(stream, [testEvent()], { expectedRevision: 'any' });
      assert.equal(any.nextExpectedRevision, 1);
      const exact = await store.appendToStream(stream, [testEvent()], { expectedRevision: 1 });
      assert.equal(exact.nextExpectedRevision, 2);
      assert.equal((await store.readStream(stream)).length, 3, 'rejected appends wrote nothing');
    });

    test('64 concurrent appends with the same expected revision: exactly one wins', async () => {
      const stream = streamName('race');
      await store.appendToStream(stream, [testEvent()], { expectedRevision: 'no_stream' });
      const results = await Promise.allSettled(
        Array.from({ length: 64 }, (_, i) => store.appendToStream(stream, [testEvent('race.won', { i })], { expectedRevision: 0 })),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.equal(lost.length, 63);
      for (const failure of lost) assert.ok(failure.reason instanceof WrongExpectedRevisionError, String(failure.reason));
      assert.equal((await store.readStream(stream)).length, 2);
    });

    test('appends in the same tick are checked one by one: a failed check rejects only its own append', async () => {
      const good = streamName('good');
      const bad = streamName('bad');
      await store.appendToStream(bad, [testEvent()], { expectedRevision: 'no_stream' });
      const [ok, rejected, alsoOk] = await Promise.allSettled([
        store.appendToStream(good, [testEvent()], { expectedRevision: 'no_stream' }),
        store.appendToStream(bad, [testEvent()], { expectedRevision: 'no_stream' }),
        store.appendToStream(good, [testEvent()], { expectedRevision: 0 }),
      ]);
      assert.equal(ok.status, 'fulfilled');
      assert.equal(rejected.status, 'rejected');
      assert.equal(alsoOk.status, 'fulfilled');
      assert.equal((await store.readStream(good)).length, 2);
      assert.equal((await store.readStream(bad)).length, 1);
    });

    test('reads all events after a position, exclusive, in order', async () => {
      const stream = streamName('all');
      const start = await store.appendToStream(stream, [testEvent('all.one')], { expectedRevision: 'no_stream' });
      await store.appendToStream(stream, [testEvent('all.two'), testEvent('all.three')], { expectedRevision: 0 });
      const page = (await store.readAll({ after: start.position, maxCount: 1000 })).filter((e) => e.streamName === stream);
      assert.deepEqual(page.map((e) => e.type), ['all.two', 'all.three']);
      const head = await store.headPosition();
      assert.ok(head && comparePositions(head, start.position) > 0);
    });

    test('10,000 events appended while a subscriber catches up arrive exactly once and in order', async () => {
      const prefix = `contract-sub-${uuidv4()}`;
      const start = await store.headPosition();
      const writers = 50;
      const perWriter = 200; // 10,000 in all
      const appendMany = (from: number, to: number) =>
        Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            for (let i = from; i < to; i++) {
              await store.appendToStream(`${prefix}-${w}`, [testEvent('sub.seen', { w, i })], { expectedRevision: i === 0 ? 'no_stream' : i - 1 });
            }
          }),
        );
      await appendMany(0, perWriter / 2); // a backlog to catch up on
      const receiving = collect(store, writers * perWriter, start, (e) => e.streamName.startsWith(prefix));
      await appendMany(perWriter / 2, perWriter); // written while the subscriber catches up and goes live
      const received = await receiving;

      assert.equal(received.length, writers * perWriter);
      for (let i = 1; i < received.length; i++) {
        assert.ok(comparePositions(received[i - 1]!.position, received[i]!.position) < 0, 'strictly increasing positions');
      }
      const perStream = new Map<string, number[]>();
      for (const e of received) perStream.set(e.streamName, [...(perStream.get(e.streamName) ?? []), e.revision]);
      assert.equal(perStream.size, writers);
      for (const revisions of perStream.values()) assert.deepEqual(revisions, Array.from({ length: perWriter }, (_, i) => i));
    });

    test('a subscription from a position delivers only later events, then live ones', async () => {
      const stream = streamName('live');
      const first = await store.appendToStream(stream, [testEvent('live.old')], { expectedRevision: 'no_stream' });
      const receiving = collect(store, 2, first.position, (e) => e.streamName === stream);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await store.appendToStream(stream, [testEvent('live.new1')], { expectedRevision: 0 });
      await store.appendToStream(stream, [testEvent('live.new2')], { expectedRevision: 1 });
      assert.deepEqual((await receiving).map((e) => e.type), ['live.new1', 'live.new2']);
    });

    test('reopening after writes loses nothing', { skip: adapter.reopen ? undefined : 'adapter cannot be reopened' }, async () => {
      const stream = streamName('durable');
      const events = Array.from({ length: 100 }, (_, i) => testEvent('durable.written', { i }));
      await Promise.all(events.map((e) => store.appendToStream(stream, [e], { expectedRevision: 'any' })));
      store = await adapter.reopen!(store);
      const read = await store.readStream(stream);
      assert.equal(read.length, 100);
      assert.deepEqual(new Set(read.map((e) => e.metadata.eventId)), new Set(events.map((e) => e.metadata.eventId)));
      assert.deepEqual(read.map((e) => e.revision), Array.from({ length: 100 }, (_, i) => i));
    });
  });
}

describe('SQLite event store subscriptions and other writers of the file', () => {
  test('a caught-up subscription reads another process\'s appends at its store\'s next commit, in order', async () => {
    const dir = tempDir();
    const file = join(dir.path, 'events.sqlite');
    const store = new SqliteEventStore(file);
    const other = new SqliteEventStore(file);
    try {
      const seen: string[] = [];
      const subscription = store.subscribeToAll();
      const reading = (async () => {
        for await (const event of subscription) {
          seen.push(event.type);
          if (seen.length === 4) return;
        }
      })();
      const until = async (count: number) => {
        for (let i = 0; i < 200 && seen.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 5));
      };
      await store.appendToStream('s-local', [testEvent('local.first')], { expectedRevision: 'no_stream' });
      await until(1);
      // Delivered up to this store's newest commit; now another writer of the same file appends.
      await other.appendToStream('s-other', [testEvent('other.first')], { expectedRevision: 'no_stream' });
      await other.appendToStream('s-other', [testEvent('other.second')], { expectedRevision: 0 });
      await store.appendToStream('s-local', [testEvent('local.second')], { expectedRevision: 0 });
      await reading;
      await subscription.close();
      assert.deepEqual(seen, ['local.first', 'other.first', 'other.second', 'local.second']);
    } finally {
      await other.close();
      await store.close();
      dir.remove();
    }
  });
});

describe('SQLite event store durability settings', () => {
  test('WAL and synchronous=FULL are in force on first open and on every reopen', async () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, 'events.sqlite');
      for (let open = 0; open < 3; open++) {
        const store = new SqliteEventStore(file);
        assert.deepEqual(store.durabilitySettings(), { journalMode: 'wal', synchronous: 2 });
        await store.appendToStream('s', [testEvent()], { expectedRevision: 'any' });
        await store.close();
      }
    } finally {
      dir.remove();
    }
  });
});
