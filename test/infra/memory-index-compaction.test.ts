import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import type { Document, Filter, IndexSpec } from '../../src/ports/read-models.js';

/**
 * The in-memory indexes are kept small, so that a start from a snapshot of a
 * million events loads quickly and stays small: a partition (organization)
 * of fewer than 128 documents keeps no trigrams (its searches are scans; its
 * trigrams are built once it grows), an entry's text is made when first
 * needed, and an equality index keeps a value held by one document as its id.
 * None of this may change an answer: each case is checked against the same
 * store with the search index switched off (a scan).
 */

interface Doc extends Document {
  metadata: { organizationId: string; name: string };
  spec: { subject: string; state?: string };
}

const FIELDS = ['metadata.name', 'spec.subject'];
const SPECS: IndexSpec[] = [{ fields: ['metadata.organizationId'] }, { fields: ['subjectKey'], unique: true }, { fields: ['metadata.organizationId'], search: FIELDS }];

const search = (organizationId: string, needle: string): Filter => {
  const pattern = { $regex: needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), $options: 'i' };
  return { 'metadata.organizationId': organizationId, $and: [{ $or: FIELDS.map((field) => ({ [field]: pattern })) }] };
};

const user = (id: string, organizationId: string, name: string): Doc => ({
  _id: id,
  metadata: { organizationId, name },
  spec: { subject: `${name}@example.com` },
});

async function setUp() {
  const store = new MemoryReadModelStore();
  await store.ensureIndexes('users', SPECS);
  const users = store.collection<Doc>('users');
  const uses = () => (users as unknown as { textIndexUses: number }).textIndexUses;
  /** The page the store answers, and the one a scan answers (search indexes off): they must be equal. */
  const both = async (filter: Filter) => {
    const options = { sort: { 'metadata.name': 1 as const, _id: 1 as const }, limit: 500 };
    const indexed = await users.findPage(filter, options);
    store.searchIndexes = false;
    const scanned = await users.findPage(filter, options);
    store.searchIndexes = true;
    assert.deepEqual(indexed, scanned, JSON.stringify(filter));
    return indexed.items.map((doc) => doc._id);
  };
  return { store, users, uses, both };
}

describe('compact in-memory indexes', () => {
  test('a small organization is searched by a scan; once it grows to 128 users its trigrams are built, with the same answers', async () => {
    const { users, uses, both } = await setUp();
    for (let i = 0; i < 127; i++) await users.put(user(`a${i}`, 'small', `alice-${i}`));
    // Text changed while the partition keeps no trigrams (the entry's text was never made).
    await users.put(user('a5', 'small', 'renamed-zed'));
    await users.delete('a6');
    assert.deepEqual(await both(search('small', 'zed')), ['a5']);
    assert.deepEqual(await both(search('small', 'alice-6')), ['a60', 'a61', 'a62', 'a63', 'a64', 'a65', 'a66', 'a67', 'a68', 'a69']);
    assert.equal(uses(), 0, 'no trigrams below 128 documents: a scan');

    // Two more: 128 documents, the trigrams are built from the entries' current text.
    await users.put(user('b1', 'small', 'bob-unique'));
    await users.put(user('b2', 'small', 'carol'));
    const before = uses();
    assert.deepEqual(await both(search('small', 'zed')), ['a5']);
    assert.ok(uses() > before, 'the trigram index answers once the partition is large');
    assert.deepEqual(await both(search('small', 'alice-5')), ['a50', 'a51', 'a52', 'a53', 'a54', 'a55', 'a56', 'a57', 'a58', 'a59']);
    assert.deepEqual(await both(search('small', 'bob-uni')), ['b1']);
    // The old text is gone from the index, and updates and deletes keep it exact.
    assert.deepEqual(await both(search('small', 'alice-5@')), []);
    await users.put(user('b1', 'small', 'robert'));
    assert.deepEqual(await both(search('small', 'bob-uni')), []);
    assert.deepEqual(await both(search('small', 'robert')), ['b1']);
    for (let i = 0; i < 120; i++) await users.delete(`a${i}`);
    assert.deepEqual(await both(search('small', 'robert')), ['b1']);
    assert.deepEqual(await both(search('small', 'alice-12')), ['a120', 'a121', 'a122', 'a123', 'a124', 'a125', 'a126']);
    // Another, small organization beside it still scans, and never sees the first one's users.
    await users.put(user('c1', 'other', 'robert-too'));
    assert.deepEqual(await both(search('other', 'robert')), ['c1']);
  });

  test('a document restored from a snapshot is indexed as a written one', async () => {
    const { store, users, both } = await setUp();
    for (let i = 0; i < 200; i++) store.restore('users', user(`r${i}`, i % 2 === 0 ? 'even' : 'odd', `restored-${i}`));
    assert.deepEqual(await both(search('even', 'restored-19')), ['r190', 'r192', 'r194', 'r196', 'r198']);
    assert.deepEqual(await both(search('odd', 'restored-19')), ['r19', 'r191', 'r193', 'r195', 'r197', 'r199']);
    assert.equal(await users.count({ 'metadata.organizationId': 'odd' }), 100);
  });

  test('an equality index over values held by one document: lookups, moves, deletes and unique clashes', async () => {
    const { users } = await setUp();
    const withKey = (id: string, key: string, organizationId = 'o1') => ({ ...user(id, organizationId, id), subjectKey: key });
    await users.put(withKey('u1', 'k1'));
    await users.put(withKey('u2', 'k2'));
    assert.deepEqual((await users.find({ subjectKey: 'k1' })).map((d) => d._id), ['u1']);
    // A unique value taken by another document is refused; writing the same document again is not a clash.
    await assert.rejects(users.put(withKey('u3', 'k1')), /duplicate key on subjectKey/);
    await users.put(withKey('u1', 'k1', 'o2'));
    assert.deepEqual((await users.find({ subjectKey: 'k1' })).map((d) => d._id), ['u1']);
    // Moving a value frees it; deleting frees it.
    await users.put(withKey('u1', 'k9'));
    assert.deepEqual(await users.find({ subjectKey: 'k1' }), []);
    await users.put(withKey('u3', 'k1'));
    assert.deepEqual((await users.find({ subjectKey: 'k1' })).map((d) => d._id), ['u3']);
    await users.delete('u3');
    assert.deepEqual(await users.find({ subjectKey: 'k1' }), []);
    // A non-unique value going from one document to several and back.
    for (let i = 0; i < 5; i++) await users.put(withKey(`m${i}`, `km${i}`, 'shared'));
    assert.equal(await users.count({ 'metadata.organizationId': 'shared' }), 5);
    for (let i = 0; i < 4; i++) await users.delete(`m${i}`);
    assert.deepEqual((await users.find({ 'metadata.organizationId': 'shared' })).map((d) => d._id), ['m4']);
    await users.delete('m4');
    assert.equal(await users.count({ 'metadata.organizationId': 'shared' }), 0);
  });
});
