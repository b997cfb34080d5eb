import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ScanningAuditLog } from '../support/scanning-audit-log.js';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { Document } from '../../src/ports/read-models.js';
import { defineProjection } from '../../src/projections/projection.js';
import { ReadModelSwitch } from '../../src/projections/read-model-switch.js';
import { changesBetween } from '../../src/projections/resource-history.js';
import { MomentInTheFutureError, TimeTravel, TimeTravelTooLongError } from '../../src/projections/time-travel.js';
import { testEvent } from '../support/events.js';
import { tempDir } from '../support/temp.js';

/** A projection of its own: things named in organizations, renamed and removed. */
interface Thing extends Document {
  organizationId: string;
  name: string;
}
const things = defineProjection<Thing>({
  name: 'things',
  collection: 'things',
  indexes: [{ fields: ['organizationId'] }],
  handlers: {
    'thing.named': async (event, docs) => {
      const { id, organizationId, name } = event.data as { id: string; organizationId: string; name: string };
      await docs.update(id, () => ({ _id: id, organizationId, name }));
    },
    'thing.removed': async (event, docs) => docs.update((event.data as { id: string }).id, () => undefined),
  },
});

const at = (iso: string, type: string, data: unknown) => {
  const event = testEvent(type, data);
  return { ...event, metadata: { ...event.metadata, occurredAt: iso } };
};

async function withLog(run: (ctx: { events: SqliteEventStore; log: ScanningAuditLog }) => Promise<void>) {
  const dir = tempDir();
  const events = new SqliteEventStore(join(dir.path, 'events.sqlite'));
  try {
    await run({ events, log: new ScanningAuditLog(events) });
  } finally {
    await events.close();
    dir.remove();
  }
}

const names = async (store: { collection(name: string): { find(filter: object): Promise<Document[]> } }, organizationId: string) =>
  (await store.collection('things').find({ organizationId })).map((doc) => doc['name']).sort();

describe('time travel', () => {
  test("replays one organization's events up to a time or a position, and nothing of another organization", async () => {
    await withLog(async ({ events, log }) => {
      await events.appendToStream('thing-a', [at('2026-01-01T00:00:00Z', 'thing.named', { id: 'a', organizationId: 'o1', name: 'alpha' })], { expectedRevision: 'no_stream' });
      await events.appendToStream('thing-x', [at('2026-01-01T12:00:00Z', 'thing.named', { id: 'x', organizationId: 'o2', name: 'other' })], { expectedRevision: 'no_stream' });
      const renamed = await events.appendToStream('thing-a', [at('2026-01-02T00:00:00Z', 'thing.named', { id: 'a', organizationId: 'o1', name: 'alpha-2' })], { expectedRevision: 0 });
      await events.appendToStream('thing-b', [at('2026-01-03T00:00:00Z', 'thing.named', { id: 'b', organizationId: 'o1', name: 'beta' })], { expectedRevision: 'no_stream' });
      await events.appendToStream('thing-a', [at('2026-01-04T00:00:00Z', 'thing.removed', { id: 'a', organizationId: 'o1' })], { expectedRevision: 1 });

      const travel = new TimeTravel(log, [things], { maxEvents: 100, cachedModels: 2 });
      const before = await travel.at('o1', { asOf: new Date('2025-12-31T00:00:00Z') });
      assert.equal(before.position, undefined);
      assert.deepEqual(await names(before.store, 'o1'), []);
      assert.deepEqual(await names((await travel.at('o1', { asOf: new Date('2026-01-01T18:00:00Z') })).store, 'o1'), ['alpha']);
      // Another organization's events are not replayed.
      assert.deepEqual(await names((await travel.at('o1', { asOf: new Date('2026-01-01T18:00:00Z') })).store, 'o2'), []);
      assert.deepEqual(await names((await travel.at('o1', { asOf: new Date('2026-01-03T00:00:00Z') })).store, 'o1'), ['alpha-2', 'beta']);
      const deleted = await travel.at('o1', { asOf: new Date('2026-01-05T00:00:00Z') });
      assert.deepEqual(await names(deleted.store, 'o1'), ['beta']);
      assert.equal(deleted.events, 4);
      const byPosition = await travel.at('o1', { asOfPosition: renamed.position.commit });
      assert.deepEqual(await names(byPosition.store, 'o1'), ['alpha-2']);
      assert.equal(byPosition.position, renamed.position.commit);
    });
  });

  test('keeps the last few states built (least recently used dropped), and builds each once', async () => {
    await withLog(async ({ events, log }) => {
      const first = await events.appendToStream('thing-a', [at('2026-01-01T00:00:00Z', 'thing.named', { id: 'a', organizationId: 'o1', name: 'a1' })], { expectedRevision: 'no_stream' });
      const second = await events.appendToStream('thing-a', [at('2026-01-02T00:00:00Z', 'thing.named', { id: 'a', organizationId: 'o1', name: 'a2' })], { expectedRevision: 0 });
      const third = await events.appendToStream('thing-a', [at('2026-01-03T00:00:00Z', 'thing.named', { id: 'a', organizationId: 'o1', name: 'a3' })], { expectedRevision: 1 });
      const travel = new TimeTravel(log, [things], { maxEvents: 100, cachedModels: 2 });
      const one = await travel.at('o1', { asOfPosition: first.position.commit });
      // The same moment, asked as a time: the same state, not built again.
      assert.equal(await travel.at('o1', { asOf: new Date('2026-01-01T06:00:00Z') }), one);
      await travel.at('o1', { asOfPosition: second.position.commit });
      await travel.at('o1', { asOfPosition: third.position.commit });
      // Two kept: the first was dropped and is built anew.
      assert.notEqual(await travel.at('o1', { asOfPosition: first.position.commit }), one);
      const none = new TimeTravel(log, [things], { maxEvents: 100, cachedModels: 0 });
      assert.notEqual(await none.at('o1', { asOfPosition: first.position.commit }), await none.at('o1', { asOfPosition: first.position.commit }));
    });
  });

  test('refuses more events than the bound, and moments after the newest event', async () => {
    await withLog(async ({ events, log }) => {
      for (let i = 0; i < 5; i++) {
        await events.appendToStream(`thing-${i}`, [at('2026-01-01T00:00:00Z', 'thing.named', { id: `t${i}`, organizationId: 'o1', name: `t${i}` })], { expectedRevision: 'no_stream' });
      }
      const head = (await events.headPosition())!.commit;
      await assert.rejects(new TimeTravel(log, [things], { maxEvents: 4, cachedModels: 2 }).at('o1', { asOfPosition: head }), TimeTravelTooLongError);
      const travel = new TimeTravel(log, [things], { maxEvents: 5, cachedModels: 2 });
      assert.equal((await travel.at('o1', { asOfPosition: head })).events, 5);
      await assert.rejects(travel.at('o1', { asOfPosition: head + 1n }), MomentInTheFutureError);
      await assert.rejects(travel.at('o1', { asOf: new Date(Date.now() + 60_000) }), MomentInTheFutureError);
    });
  });

  test('the switch sends reads inside run() to the other store, and every other read to the live one', async () => {
    const live = new MemoryReadModelStore();
    const past = new MemoryReadModelStore();
    await live.collection('things').put({ _id: 'a', name: 'now' });
    await past.collection('things').put({ _id: 'a', name: 'then' });
    const switched = new ReadModelSwitch(live);
    const collection = switched.collection('things'); // kept, as query objects do
    assert.equal((await collection.findById('a'))?.['name'], 'now');
    const [inside, outside] = await Promise.all([
      switched.run(past, async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return (await collection.findById('a'))?.['name'];
      }),
      (async () => (await collection.findById('a'))?.['name'])(),
    ]);
    assert.equal(inside, 'then');
    assert.equal(outside, 'now');
  });

  test('changes between versions: RFC 6902, id lists as additions and removals', () => {
    assert.deepEqual(changesBetween(undefined, { a: 1 }), [{ op: 'add', path: '', value: { a: 1 } }]);
    assert.deepEqual(changesBetween({ a: 1 }, undefined), [{ op: 'remove', path: '' }]);
    assert.deepEqual(changesBetween({ a: 1 }, { a: 1 }), []);
    assert.deepEqual(changesBetween({ spec: { roleIDs: ['reader', 'user'] } }, { spec: { roleIDs: ['user', 'administrator'] } }), [
      { op: 'remove', path: '/spec/roleIDs/0' },
      { op: 'add', path: '/spec/roleIDs/1', value: 'administrator' },
    ]);
    assert.deepEqual(changesBetween({ m: { 'a/b': 1, gone: true } }, { m: { 'a/b': 2, added: [] } }), [
      { op: 'remove', path: '/m/gone' },
      { op: 'replace', path: '/m/a~1b', value: 2 },
      { op: 'add', path: '/m/added', value: [] },
    ]);
    // A reordered list is not a set of additions and removals: the generic diff.
    assert.deepEqual(changesBetween({ l: ['a', 'b'] }, { l: ['b', 'a'] }), [
      { op: 'replace', path: '/l/1', value: 'a' },
      { op: 'replace', path: '/l/0', value: 'b' },
    ]);
  });
});
