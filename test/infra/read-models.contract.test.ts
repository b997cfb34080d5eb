import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { v4 as uuidv4 } from 'uuid';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import type { Document, ReadModelStore } from '../../src/ports/read-models.js';

interface Adapter {
  readonly name: string;
  readonly skip?: string;
  open(): Promise<ReadModelStore>;
}

const adapters: Adapter[] = [
  { name: 'in-memory (mingo)', open: async () => new MemoryReadModelStore() },
  {
    name: 'MongoDB',
    skip: process.env.MONGODB_URL ? undefined : 'MongoDB skipped: MONGODB_URL is not set (no server on this machine)',
    open: async () => {
      const { MongoReadModelStore } = await import('../../src/infra/mongodb/mongo-read-model-store.js');
      return MongoReadModelStore.connect(process.env.MONGODB_URL!, 'identity_contract');
    },
  },
];

interface UserDoc extends Document {
  organizationId: string;
  name: string;
  age?: number | null;
  tags: string[];
  profile: { city: string };
  created: string;
}

const people: UserDoc[] = [
  { _id: 'u1', organizationId: 'o1', name: 'ada', age: 36, tags: ['admin'], profile: { city: 'London' }, created: '2024-01-01T00:00:00.000Z' },
  { _id: 'u2', organizationId: 'o1', name: 'grace', age: 45, tags: ['ops', 'admin'], profile: { city: 'New York' }, created: '2024-02-01T00:00:00.000Z' },
  { _id: 'u3', organizationId: 'o1', name: 'linus', age: 28, tags: [], profile: { city: 'Helsinki' }, created: '2024-03-01T00:00:00.000Z' },
  { _id: 'u4', organizationId: 'o2', name: 'barbara', tags: ['ops'], profile: { city: 'Boston' }, created: '2024-04-01T00:00:00.000Z' },
];

for (const adapter of adapters) {
  describe(`read model contract: ${adapter.name}`, { skip: adapter.skip }, () => {
    let store: ReadModelStore;
    const name = `contract_${uuidv4().replace(/-/g, '')}`;
    before(async () => {
      store = await adapter.open();
      await store.ensureIndexes(name, [{ fields: ['organizationId'] }, { fields: ['tags'] }]);
      for (const doc of people) await store.collection<UserDoc>(name).put(doc);
    });
    after(async () => {
      await store?.clear([name]);
      await store?.setCheckpoint(`${name}-projection`, undefined);
      await store?.close();
    });
    const ids = (docs: Document[]) => docs.map((d) => d._id);

    test('finds by id and by filter', async () => {
      const users = store.collection<UserDoc>(name);
      assert.equal((await users.findById('u2'))?.name, 'grace');
      assert.equal(await users.findById('nope'), undefined);
      assert.equal((await users.findOne({ name: 'linus' }))?._id, 'u3');
      assert.deepEqual(ids(await users.find({ organizationId: 'o1' }, { sort: { _id: 1 } })), ['u1', 'u2', 'u3']);
      assert.deepEqual(ids(await users.find({ 'profile.city': 'Boston' })), ['u4']);
      assert.deepEqual(ids(await users.find({ tags: 'admin' }, { sort: { _id: 1 } })), ['u1', 'u2']);
    });

    test('evaluates comparison, regex, $in, $ne, $and/$or and $exists the MongoDB way', async () => {
      const users = store.collection<UserDoc>(name);
      const sorted = { sort: { _id: 1 as const } };
      assert.deepEqual(ids(await users.find({ age: { $gte: 36 } }, sorted)), ['u1', 'u2']);
      assert.deepEqual(ids(await users.find({ name: { $regex: 'RA', $options: 'i' } }, sorted)), ['u2', 'u4']);
      assert.deepEqual(ids(await users.find({ _id: { $in: ['u1', 'u4'] } }, sorted)), ['u1', 'u4']);
      assert.deepEqual(ids(await users.find({ organizationId: 'o1', name: { $ne: 'ada' } }, sorted)), ['u2', 'u3']);
      assert.deepEqual(ids(await users.find({ $or: [{ name: 'ada' }, { age: { $lt: 30 } }] }, sorted)), ['u1', 'u3']);
      assert.deepEqual(ids(await users.find({ age: { $exists: false } }, sorted)), ['u4']);
      assert.deepEqual(ids(await users.find({ created: { $gte: '2024-02-01T00:00:00.000Z', $lte: '2024-03-31T00:00:00.000Z' } }, sorted)), ['u2', 'u3']);
    });

    test('sorts, skips, limits and counts', async () => {
      const users = store.collection<UserDoc>(name);
      assert.deepEqual(ids(await users.find({}, { sort: { name: 1 } })), ['u1', 'u4', 'u2', 'u3']);
      assert.deepEqual(ids(await users.find({}, { sort: { name: -1 }, skip: 1, limit: 2 })), ['u2', 'u4']);
      // Missing values sort first ascending, as in MongoDB.
      assert.deepEqual(ids(await users.find({}, { sort: { age: 1 } })), ['u4', 'u3', 'u1', 'u2']);
      assert.deepEqual(ids(await users.find({ organizationId: 'o1' }, { sort: { 'profile.city': -1 } })), ['u2', 'u1', 'u3']);
      assert.equal(await users.count({ organizationId: 'o1' }), 3);
      assert.equal(await users.count({}), 4);
    });

    test('replaces and deletes documents, keeping indexes true', async () => {
      const users = store.collection<UserDoc>(name);
      await users.put({ ...people[0]!, organizationId: 'o2', tags: ['moved'] });
      assert.deepEqual(ids(await users.find({ organizationId: 'o1' }, { sort: { _id: 1 } })), ['u2', 'u3']);
      assert.deepEqual(ids(await users.find({ tags: 'moved' })), ['u1']);
      assert.deepEqual(ids(await users.find({ tags: 'admin' })), ['u2']);
      await users.delete('u1');
      assert.equal(await users.findById('u1'), undefined);
      assert.equal(await users.count({ organizationId: 'o2' }), 1);
      await users.put(people[0]!);
    });

    test('returns copies: changing a result does not change the store', async () => {
      const users = store.collection<UserDoc>(name);
      const doc = (await users.findById('u2'))!;
      doc.name = 'changed';
      doc.profile.city = 'changed';
      assert.equal((await users.findById('u2'))?.name, 'grace');
      assert.equal((await users.findById('u2'))?.profile.city, 'New York');
    });

    test('pages a large collection in sort order, also after updates and deletes', async () => {
      const big = store.collection<Document & { organizationId: string; name?: string; n: number }>(`${name}_big`);
      await store.ensureIndexes(`${name}_big`, [{ fields: ['organizationId'] }]);
      const names = ['delta', 'alpha', 'charlie', 'bravo', 'echo'];
      for (let i = 0; i < 6000; i++) {
        await big.put({ _id: `b${String(i).padStart(5, '0')}`, organizationId: i % 10 === 0 ? 'small' : 'large', n: i % 7, ...(i % 13 === 0 ? {} : { name: names[i % 5] }) });
      }
      const expectedOrder = async (filter: (d: { organizationId: string; n: number; name?: string }) => boolean, direction: 1 | -1) => {
        const all = await big.find({});
        return all
          .filter(filter)
          .sort((a, b) => direction * ((a.name ?? '') < (b.name ?? '') ? -1 : (a.name ?? '') > (b.name ?? '') ? 1 : a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
          .map((d) => d._id);
      };
      const check = async () => {
        for (const direction of [1, -1] as const) {
          // A range on the sort field: a stretch of the partition.
          const byN = (a: { n: number; _id: string }, b: { n: number; _id: string }) => direction * (a.n - b.n || (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
          for (const range of [{ $gte: 2, $lt: 5 }, { $gt: 2 }, { $lte: 3 }, { $gt: 1, $lte: 6 }]) {
            const inRange = (n: number) =>
              (range.$gte === undefined || n >= range.$gte) && (range.$gt === undefined || n > range.$gt) && (range.$lt === undefined || n < range.$lt) && (range.$lte === undefined || n <= range.$lte);
            const ranged = await big.findPage({ organizationId: 'large', $and: [{ n: range }] }, { sort: { n: direction, _id: direction }, skip: 20, limit: 40 });
            const rangedExpected = (await big.find({})).filter((d) => d.organizationId === 'large' && inRange(d.n)).sort(byN).map((d) => d._id);
            assert.equal(ranged.total, rangedExpected.length, JSON.stringify(range));
            assert.deepEqual(ids(ranged.items), rangedExpected.slice(20, 60), JSON.stringify(range));
          }
          const named = await big.findPage({ organizationId: 'large', $and: [{ name: { $gte: 'b' } }, { name: { $lt: 'd' } }] }, { sort: { name: direction, _id: direction }, limit: 5000 });
          const namedExpected = await expectedOrder((d) => d.organizationId === 'large' && d.name !== undefined && d.name >= 'b' && d.name < 'd', direction);
          assert.deepEqual(ids(named.items), namedExpected);
          // A free-text search, as list queries write it: the same answer as testing each field.
          for (const term of ['AR', 'li', 'e', 'x', 'a.b']) {
            const pattern = term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
            const searched = await big.findPage(
              { organizationId: 'large', $and: [{ $or: [{ name: { $regex: pattern, $options: 'i' } }, { _id: { $regex: pattern, $options: 'i' } }] }] },
              { sort: { name: direction, _id: direction }, skip: 5, limit: 50 },
            );
            const searchedExpected = await expectedOrder(
              (d) => d.organizationId === 'large' && [d.name ?? '', (d as { _id?: string })._id ?? ''].some((v) => v.toLowerCase().includes(term.toLowerCase())),
              direction,
            );
            assert.equal(searched.total, searchedExpected.length, term);
            assert.deepEqual(ids(searched.items), searchedExpected.slice(5, 55), term);
          }
          // A small partition is served by the index the large one made.
          const small = await big.findPage({ organizationId: 'small', n: { $gte: 3 } }, { sort: { name: direction, _id: direction }, skip: 10, limit: 25 });
          const smallExpected = await expectedOrder((d) => d.organizationId === 'small' && d.n >= 3, direction);
          assert.equal(small.total, smallExpected.length);
          assert.deepEqual(ids(small.items), smallExpected.slice(10, 35));
          // Nothing but an indexed equality: the page is a slice of one partition.
          const pinned = await big.findPage({ $and: [{ organizationId: 'large' }] }, { sort: { name: direction, _id: direction }, skip: 4000, limit: 30 });
          const pinnedExpected = await expectedOrder((d) => d.organizationId === 'large', direction);
          assert.equal(pinned.total, pinnedExpected.length);
          assert.deepEqual(ids(pinned.items), pinnedExpected.slice(4000, 4030));
          const page = await big.findPage({ organizationId: 'large', n: { $gte: 3 } }, { sort: { name: direction, _id: direction }, skip: 100, limit: 50 });
          const expected = await expectedOrder((d) => d.organizationId === 'large' && d.n >= 3, direction);
          assert.equal(page.total, expected.length);
          assert.deepEqual(ids(page.items), expected.slice(100, 150));
        }
      };
      await check();
      for (let i = 0; i < 6000; i += 97) await big.put({ _id: `b${String(i).padStart(5, '0')}`, organizationId: 'large', n: 5, name: 'aardvark' });
      // Moves between partitions, and changes that keep a document in place.
      for (let i = 3; i < 6000; i += 101) await big.put({ _id: `b${String(i).padStart(5, '0')}`, organizationId: i % 2 ? 'small' : 'large', n: 6, name: names[i % 5] });
      for (let i = 1; i < 6000; i += 89) await big.delete(`b${String(i).padStart(5, '0')}`);
      await check();
      await store.clear([`${name}_big`]);
    });

    test('keeps checkpoints per projection', async () => {
      const projection = `${name}-projection`;
      assert.equal(await store.getCheckpoint(projection), undefined);
      await store.setCheckpoint(projection, '12/12');
      assert.equal(await store.getCheckpoint(projection), '12/12');
      await store.setCheckpoint(projection, undefined);
      assert.equal(await store.getCheckpoint(projection), undefined);
    });
  });
}

describe('in-memory read models refuse script operators', () => {
  test('$where is rejected, never run', async () => {
    const store = new MemoryReadModelStore();
    const items = store.collection('items');
    await items.put({ _id: 'a' });
    let ran = false;
    (globalThis as Record<string, unknown>).__ran = () => (ran = true);
    await assert.rejects(items.find({ $where: 'globalThis.__ran() || true' }));
    await assert.rejects(items.find({ $where: function () { ran = true; return true; } }));
    assert.equal(ran, false);
  });
});
