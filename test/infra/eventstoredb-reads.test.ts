import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKWARDS, END, type EventStoreDBClient, FORWARDS, START, StreamNotFoundError } from '@eventstore/db-client';
import { EventStoreDbEventStore, STREAM_PAGE_SIZE } from '../../src/infra/eventstoredb/eventstoredb-event-store.js';

/**
 * The EventStoreDB adapter's reads and subscription against a stand-in for
 * `@eventstore/db-client` at its API boundary (no server runs here):
 * readStream answers as the server documents it (fromRevision inclusive,
 * maxCount, direction), as an async iterable of resolved events, and records
 * what it was asked for.
 */

interface FakeEvent {
  streamId: string;
  revision: bigint;
  type: string;
  data: unknown;
  metadata: unknown;
  position: { commit: bigint; prepare: bigint };
}

function fakeClient(streams: Record<string, FakeEvent[]>) {
  const readStreamCalls: { stream: string; options: any }[] = [];
  const subscribeCalls: any[] = [];
  const client = {
    readStream(stream: string, options: any = {}) {
      readStreamCalls.push({ stream, options });
      const events = streams[stream];
      const backwards = options.direction === BACKWARDS;
      const max = Number(options.maxCount ?? Number.MAX_SAFE_INTEGER);
      return (async function* () {
        if (!events) throw new StreamNotFoundError({ metadata: new Map() } as never, stream);
        const ordered = backwards ? [...events].reverse() : events;
        const from = options.fromRevision;
        const start = ordered.findIndex((e) =>
          from === undefined || from === START || from === END ? true : backwards ? e.revision <= from : e.revision >= from,
        );
        if (start < 0) return;
        for (const event of ordered.slice(start, start + max)) yield { event };
      })();
    },
    subscribeToAll(options: any = {}) {
      subscribeCalls.push(options);
      let stop: () => void = () => {};
      const ended = new Promise<void>((resolve) => (stop = resolve));
      return {
        async *[Symbol.asyncIterator]() {
          await ended;
        },
        async unsubscribe() {
          stop();
        },
        destroy() {
          stop();
        },
      };
    },
  };
  return { client: client as unknown as EventStoreDBClient, readStreamCalls, subscribeCalls };
}

const stream = (name: string, count: number, typeOf: (i: number) => string = () => 'user.updated'): FakeEvent[] =>
  Array.from({ length: count }, (_, i) => ({
    streamId: name,
    revision: BigInt(i),
    type: typeOf(i),
    data: { i },
    metadata: { eventId: `e${i}` },
    position: { commit: BigInt(1000 + i), prepare: BigInt(1000 + i) },
  }));

describe('EventStoreDB adapter: bounded stream reads', () => {
  test('a backwards read of the newest event asks the server for one event', async () => {
    const fake = fakeClient({ 'user-1': stream('user-1', 5000) });
    const store = EventStoreDbEventStore.withClient(fake.client);
    const [newest] = await store.readStream('user-1', { direction: 'backwards', maxCount: 1 });
    assert.equal(newest?.revision, 4999);
    assert.equal(fake.readStreamCalls.length, 1);
    assert.equal(Number(fake.readStreamCalls[0]!.options.maxCount), 1);
    assert.equal(fake.readStreamCalls[0]!.options.fromRevision, END);
  });

  test('a backwards read from a revision (the way back to a snapshot) asks for at most maxCount, in pages', async () => {
    const fake = fakeClient({ 'ledger-1': stream('ledger-1', 5000) });
    const store = EventStoreDbEventStore.withClient(fake.client);
    const events = await store.readStream('ledger-1', { direction: 'backwards', fromRevision: 3999, maxCount: 700 });
    assert.deepEqual(events.map((e) => e.revision), Array.from({ length: 700 }, (_, i) => 3999 - i));
    const asked = fake.readStreamCalls.map((c) => Number(c.options.maxCount));
    assert.deepEqual(asked, [STREAM_PAGE_SIZE, 700 - STREAM_PAGE_SIZE], 'never more than it still needs');
    assert.equal(fake.readStreamCalls[1]!.options.fromRevision, BigInt(3999 - STREAM_PAGE_SIZE), 'the next page starts before the last');
    assert.ok(fake.readStreamCalls.every((c) => c.options.direction === BACKWARDS));
  });

  test('a read without maxCount goes in pages of STREAM_PAGE_SIZE, never the whole stream in one call', async () => {
    const fake = fakeClient({ 'group-1': stream('group-1', 1200) });
    const store = EventStoreDbEventStore.withClient(fake.client);
    const events = await store.readStream('group-1');
    assert.equal(events.length, 1200);
    assert.deepEqual(events.map((e) => e.revision), Array.from({ length: 1200 }, (_, i) => i));
    assert.ok(fake.readStreamCalls.every((c) => Number(c.options.maxCount) <= STREAM_PAGE_SIZE));
    assert.deepEqual(fake.readStreamCalls.map((c) => c.options.fromRevision), [START, BigInt(STREAM_PAGE_SIZE), BigInt(2 * STREAM_PAGE_SIZE)]);
    assert.ok(fake.readStreamCalls.every((c) => c.options.direction === FORWARDS));
  });

  test('maxCount counts our events: links in the stream are skipped and the read goes on for what it still needs; a missing stream is empty', async () => {
    const fake = fakeClient({ 'user-2': stream('user-2', 50, (i) => (i % 10 === 0 ? '$>' : 'user.updated')) });
    const store = EventStoreDbEventStore.withClient(fake.client);
    const events = await store.readStream('user-2', { fromRevision: 5, maxCount: 20 });
    // A short answer means the end of the stream to the pipeline's paged reads, so links must not shorten one.
    assert.deepEqual(events.map((e) => e.revision), [5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25, 26]);
    assert.deepEqual(fake.readStreamCalls.map((c) => Number(c.options.maxCount)), [20, 2]);
    assert.equal(fake.readStreamCalls[1]!.options.fromRevision, 25n);
    assert.deepEqual(await store.readStream('nobody'), []);
  });
});

describe('EventStoreDB adapter: the filtered subscription', () => {
  test('starts from the position it is given, not from the start; without one, from the start', async () => {
    const fake = fakeClient({});
    const store = EventStoreDbEventStore.withClient(fake.client);
    const resumed = store.subscribeToAll({ after: { commit: 1234n, prepare: 1230n } });
    await resumed.close();
    const fresh = store.subscribeToAll();
    await fresh.close();
    assert.deepEqual(fake.subscribeCalls[0].fromPosition, { commit: 1234n, prepare: 1230n });
    assert.equal(fake.subscribeCalls[1].fromPosition, START);
    assert.ok(fake.subscribeCalls.every((options) => options.filter !== undefined), 'filtered on the server');
  });
});
