import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import type { Collection, Document } from '../../src/ports/read-models.js';
import { compileFilterExpression, cursorPage, type CursorPage, InvalidCursorError, type ListFields } from '../../src/query/index.js';
import { random } from '../support/random.js';

interface Item extends Document {
  org: string;
  name?: string | null;
  rank: number;
}

const FIELDS: ListFields = {
  id: { path: '_id', type: 'string' },
  name: { path: 'name', type: 'string' },
  rank: { path: 'rank', type: 'number' },
};

const NAMES = ['ada', 'bob', 'cy', 'dee', 'eve'];

async function collectionOf(count: number, next: () => number, org = 'o1'): Promise<Collection<Item>> {
  const store = new MemoryReadModelStore();
  await store.ensureIndexes('items', [{ fields: ['org'] }]);
  const items = store.collection<Item>('items');
  for (let i = 0; i < count; i++) await items.put(makeItem(`i${String(i).padStart(5, '0')}`, next, org));
  return items;
}

/** Many ties on name, some null and absent names: the id must break them. */
function makeItem(id: string, next: () => number, org = 'o1'): Item {
  const r = next();
  const item: Item = { _id: id, org, rank: Math.floor(next() * 50), name: r < 0.1 ? null : NAMES[Math.floor(next() * NAMES.length)]! };
  if (r < 0.05) delete item.name;
  return item;
}

const page = (items: Collection<Item>, sortBy: string, sortOrder: 'asc' | 'desc', cursor: string | undefined, limit: number, filter = { org: 'o1' }) =>
  cursorPage(items, FIELDS, { filter, sortBy, sortOrder, cursor, limit }, (doc) => doc._id);

describe('cursor pages', () => {
  test('walk forward and back through every item once, in order, with the total on every page', async () => {
    const next = random(7);
    const items = await collectionOf(230, next);
    for (const [sortBy, sortOrder] of [['name', 'asc'], ['name', 'desc'], ['rank', 'desc'], ['id', 'asc']] as const) {
      const expected = (await items.find({ org: 'o1' }, { sort: { [FIELDS[sortBy]!.path]: sortOrder === 'asc' ? 1 : -1, _id: sortOrder === 'asc' ? 1 : -1 } })).map((d) => d._id);
      const seen: string[] = [];
      const pages: CursorPage<string>[] = [];
      let cursor: string | undefined;
      do {
        const current = await page(items, sortBy, sortOrder, cursor, 25);
        assert.equal(current.response_metadata.total, 230);
        pages.push(current);
        seen.push(...current.items);
        cursor = current.response_metadata.next_cursor ?? undefined;
      } while (cursor);
      assert.deepEqual(seen, expected, `${sortBy} ${sortOrder}`);
      assert.equal(pages.length, 10);
      assert.equal(pages[0]!.response_metadata.prev_cursor, null);
      assert.equal(pages.at(-1)!.items.length, 5);
      // Back from the last page: the pages before it, in the same order.
      let back = pages.at(-1)!.response_metadata.prev_cursor!;
      for (let i = pages.length - 2; i >= 0; i--) {
        const previous = await page(items, sortBy, sortOrder, back, 25);
        assert.deepEqual(previous.items, pages[i]!.items, `${sortBy} ${sortOrder}: back to page ${i}`);
        if (i === 0) assert.equal(previous.response_metadata.prev_cursor, null);
        else back = previous.response_metadata.prev_cursor!;
      }
    }
  });

  test('no item that exists throughout is skipped or repeated while others are created and deleted between pages', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const next = random(seed);
      const items = await collectionOf(300, next);
      const sortBy = seed % 3 === 0 ? 'rank' : 'name';
      const sortOrder = seed % 2 === 0 ? 'desc' : 'asc';
      const initial = new Set((await items.find({ org: 'o1' })).map((d) => d._id));
      const deleted = new Set<string>();
      let created = 0;
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const current = await page(items, sortBy, sortOrder, cursor, 17);
        seen.push(...current.items);
        cursor = current.response_metadata.next_cursor ?? undefined;
        pages++;
        // Between pages: create some (anywhere in the order), delete some (seen or not), and touch another organization.
        for (let i = 0; i < 6; i++) await items.put(makeItem(`n${seed}-${created++}`, next));
        await items.put(makeItem(`other-${created++}`, next, 'o2'));
        const alive = (await items.find({ org: 'o1' })).map((d) => d._id);
        for (let i = 0; i < 4; i++) {
          const victim = alive[Math.floor(next() * alive.length)]!;
          await items.delete(victim);
          deleted.add(victim);
        }
        assert.ok(pages < 100, 'the walk ends');
      } while (cursor);
      const stable = [...initial].filter((id) => !deleted.has(id));
      const counts = new Map<string, number>();
      for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1);
      for (const id of stable) assert.equal(counts.get(id), 1, `seed ${seed}: ${id} existed throughout and was seen ${counts.get(id) ?? 0} times`);
      for (const [id, count] of counts) assert.equal(count, 1, `seed ${seed}: ${id} repeated`);
      assert.ok(!seen.some((id) => id.startsWith('other-')), 'only the filter\'s items');
      assert.ok(stable.length > 150 && deleted.size > 50, 'the test changed a lot between pages');
    }
  });

  test('a filter expression and a cursor together', async () => {
    const items = await collectionOf(120, random(3));
    const filter = { org: 'o1', $and: [compileFilterExpression("name IN ['ada', 'bob'] OR NOT rank LT 40", FIELDS)] };
    const all = await items.find(filter, { sort: { rank: 1, _id: 1 } });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const current = await page(items, 'rank', 'asc', cursor, 7, filter);
      assert.equal(current.response_metadata.total, all.length);
      seen.push(...current.items);
      cursor = current.response_metadata.next_cursor ?? undefined;
    } while (cursor);
    assert.deepEqual(seen, all.map((d) => d._id));
  });

  test('a cursor that is not ours, damaged, or made for another sort is refused', async () => {
    const items = await collectionOf(30, random(9));
    const first = await page(items, 'name', 'asc', undefined, 10);
    const cursor = first.response_metadata.next_cursor!;
    const bad = [
      'not a cursor!',
      'x'.repeat(5000),
      Buffer.from('{"v":1').toString('base64url'),
      Buffer.from(JSON.stringify({ v: 2, s: 'name', o: 'asc', k: 'a', id: 'i1', d: 'next' })).toString('base64url'),
      Buffer.from(JSON.stringify({ v: 1, s: 'name', o: 'asc', k: { $gt: '' }, id: 'i1', d: 'next' })).toString('base64url'),
      Buffer.from(JSON.stringify({ v: 1, s: 'name', o: 'asc', k: 'a', id: { $ne: null }, d: 'next' })).toString('base64url'),
    ];
    for (const text of bad) await assert.rejects(page(items, 'name', 'asc', text, 10), InvalidCursorError, text.slice(0, 40));
    await assert.rejects(page(items, 'rank', 'asc', cursor, 10), (e: unknown) => e instanceof InvalidCursorError && /made for sort_by=name asc, used with sort_by=rank asc/.test(e.message));
    await assert.rejects(page(items, 'name', 'desc', cursor, 10), InvalidCursorError);
    // The same cursor with its own sort works, with another limit too.
    assert.equal((await page(items, 'name', 'asc', cursor, 5)).items.length, 5);
  });
});
