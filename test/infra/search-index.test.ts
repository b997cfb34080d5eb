import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Db } from 'mongodb';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import { MongoReadModelStore, trigramField } from '../../src/infra/mongodb/mongo-read-model-store.js';
import { needleTrigrams, searchesIn, trigramsOf } from '../../src/infra/memory/text-search.js';
import type { Document, Filter, FindOptions, IndexSpec } from '../../src/ports/read-models.js';
import { USER_SEARCH_FIELDS, usersProjection } from '../../src/projections/users/projection.js';
import { USER_FIELDS } from '../../src/projections/users/queries.js';
import { FakeDb, fakeClient } from './mongo-fake.js';
import { random } from '../support/random.js';

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const FIELDS = ['metadata.name', 'metadata.description', 'spec.subject'];
const SEARCH_SPEC: IndexSpec = { fields: ['metadata.organizationId'], search: FIELDS };
const EQUALITY: IndexSpec[] = [{ fields: ['metadata.organizationId'] }, { fields: ['metadata.organizationId', 'metadata.name', '_id'] }];

// Letters of both cases, digits, regex metacharacters, and non-ASCII characters
// that fold onto ASCII letters in other engines (Kelvin sign, long s, dotless i) or not at all (é).
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-@_ +(*?\u212a\u017f\u0131\u00e9';

interface Doc extends Document {
  metadata: { organizationId: string; name?: string; description?: string | string[] };
  spec: { subject: string | number };
  n: number;
}

function generator(seed: number) {
  const next = random(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(list: readonly T[]) => list[int(list.length)]!;
  const text = (max: number) => Array.from({ length: int(max + 1) }, () => ALPHABET[int(ALPHABET.length)]).join('');
  const doc = (id: string): Doc => {
    const metadata: Doc['metadata'] = { organizationId: pick(['o1', 'o1', 'o2', 'o3']) };
    if (next() < 0.9) metadata.name = text(16);
    if (next() < 0.5) metadata.description = next() < 0.2 ? [text(8), text(8)] : text(24);
    return { _id: id, metadata, spec: { subject: next() < 0.05 ? 42 : `${text(10)}@${pick(['example.com', 'Example.ORG', 'x.io'])}` }, n: int(10) };
  };
  const flipCase = (s: string) => [...s].map((c) => (next() < 0.5 ? c.toUpperCase() : c.toLowerCase())).join('');
  const needle = (docs: readonly Doc[]): string => {
    const r = next();
    if (r < 0.15) return text(1 + int(5));
    const source = pick(docs);
    const values = [source.metadata.name, source.metadata.description, source.spec.subject].flat().filter((v): v is string => typeof v === 'string' && v.length > 0);
    if (values.length === 0) return text(4);
    const value = pick(values);
    // Mostly three characters or more (what the index serves), sometimes fewer.
    const length = next() < 0.2 ? 1 + int(2) : 3 + int(5);
    const start = int(Math.max(1, value.length - length + 1));
    const piece = value.slice(start, start + length);
    // Mostly as stored, sometimes with other cases (the Kelvin sign upper-cases to itself, ſ to S, ı to I).
    return r < 0.6 ? piece : flipCase(piece);
  };
  return { next, int, pick, doc, needle };
}

/** The reference: each field's values tested with the regex itself. */
const oracle = (doc: Doc, fields: readonly string[], needle: string): boolean => {
  const regex = new RegExp(escapeRegex(needle), 'i');
  const at = (path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), doc);
  return fields.some((field) => [at(field)].flat().some((v) => typeof v === 'string' && regex.test(v)));
};

const ids = (docs: readonly Document[]) => docs.map((d) => d._id);

describe('trigrams', () => {
  test('each text on its own, ASCII letters folded, only ASCII trigrams', () => {
    assert.deepEqual(trigramsOf(['AbCd']), ['abc', 'bcd']);
    // Never across two texts, never across a non-ASCII character.
    assert.deepEqual(trigramsOf(['ab', 'cd']), []);
    assert.deepEqual(trigramsOf(['ab\u00e9cde']), ['cde']);
    assert.deepEqual(trigramsOf(['\u212aab']), []);
    assert.deepEqual(needleTrigrams('al'), []);
    assert.deepEqual(needleTrigrams('aLiCe'), ['ali', 'ice', 'lic']);
  });

  test('finds the searches a filter requires, in both shapes the list queries write', () => {
    const p = { $regex: 'Al\\.ice', $options: 'i' };
    assert.deepEqual(searchesIn({ org: 'o1', $and: [{ $or: [{ a: p }, { b: p }] }, { n: { $gte: 1 } }] }), [{ fields: ['a', 'b'], needle: 'al.ice' }]);
    assert.deepEqual(searchesIn({ 'spec.subject': p }), [{ fields: ['spec.subject'], needle: 'al.ice' }]);
    // Not a search: a real regex, another option, different patterns per field, a non-ASCII needle, an $or of other clauses.
    assert.deepEqual(searchesIn({ a: { $regex: 'a.c', $options: 'i' } }), []);
    assert.deepEqual(searchesIn({ a: { $regex: 'abc', $options: 'im' } }), []);
    assert.deepEqual(searchesIn({ $or: [{ a: p }, { b: { $regex: 'x', $options: 'i' } }] }), []);
    assert.deepEqual(searchesIn({ a: { $regex: 'caf\u00e9', $options: 'i' } }), []);
    assert.deepEqual(searchesIn({ $or: [{ a: p }, { n: 1 }] }), []);
    // A $nor or $not is not a conjunct.
    assert.deepEqual(searchesIn({ $nor: [{ $or: [{ a: p }] }], b: { $not: p } }), []);
  });

  test('the users projection indexes every searchable text field of the users list', () => {
    const searchable = Object.values(USER_FIELDS)
      .filter((f) => f.type === 'string' && f.searchable !== false)
      .map((f) => f.path)
      .sort();
    assert.deepEqual([...USER_SEARCH_FIELDS].sort(), searchable);
    assert.ok(usersProjection.indexes.some((spec) => spec.search === USER_SEARCH_FIELDS));
  });
});

describe('in-memory trigram index', () => {
  test('property: the indexed search answers exactly as the scan, through puts, updates and deletes', async () => {
    for (const seed of [1, 2]) {
      const g = generator(seed);
      const indexed = new MemoryReadModelStore();
      const scanned = new MemoryReadModelStore();
      await indexed.ensureIndexes('users', [...EQUALITY, SEARCH_SPEC]);
      await scanned.ensureIndexes('users', EQUALITY);
      const a = indexed.collection<Doc>('users');
      const b = scanned.collection<Doc>('users');
      const live = new Map<string, Doc>();
      const put = async (doc: Doc) => {
        live.set(doc._id, doc);
        await a.put(doc);
        await b.put(doc);
      };
      for (let i = 0; i < 1200; i++) await put(g.doc(`u${String(i).padStart(5, '0')}`));
      let queries = 0;
      for (let round = 0; round < 6; round++) {
        for (let q = 0; q < 60; q++) {
          const docs = [...live.values()];
          const needle = g.needle(docs);
          const pattern = { $regex: escapeRegex(needle), $options: 'i' };
          const fields = g.next() < 0.7 ? FIELDS : [g.pick(FIELDS)];
          const search: Filter = fields.length === 1 && g.next() < 0.5 ? { [fields[0]!]: pattern } : { $or: fields.map((f) => ({ [f]: pattern })) };
          const org = g.pick(['o1', 'o2', undefined]);
          const extra = g.next() < 0.3 ? [{ n: { $gte: g.int(10) } }] : [];
          const filter: Filter = { ...(org ? { 'metadata.organizationId': org } : {}), $and: [search, ...extra] };
          const direction = g.pick([1, -1] as const);
          const options: FindOptions = { sort: { [g.pick(['metadata.name', 'n'])]: direction, _id: direction }, skip: g.int(3) * 10, limit: g.pick([5, 50, 500]) };
          const context = JSON.stringify({ seed, round, filter, options });

          const expected = docs.filter((d) => (!org || d.metadata.organizationId === org) && (extra.length === 0 || d.n >= extra[0]!.n.$gte) && oracle(d, fields, needle));
          const [pageA, pageB, countA] = await Promise.all([a.findPage(filter, options), b.findPage(filter, options), a.count(filter)]);
          assert.equal(pageA.total, expected.length, context);
          assert.equal(pageB.total, expected.length, context);
          assert.equal(countA, expected.length, context);
          assert.deepEqual(ids(pageA.items), ids(pageB.items), context);
          // Unsorted, the same set.
          assert.deepEqual(ids(await a.find(filter)).sort(), ids(expected).sort(), context);
          queries++;
        }
        // Updates that change the text, updates that do not, moves between organizations, deletes, new documents.
        const docs = [...live.values()];
        for (let i = 0; i < 150; i++) {
          const victim = g.pick(docs);
          const r = g.next();
          if (r < 0.4) await put({ ...g.doc(victim._id) });
          else if (r < 0.6) await put({ ...victim, n: g.int(10) });
          else if (r < 0.8 && live.has(victim._id)) {
            live.delete(victim._id);
            await a.delete(victim._id);
            await b.delete(victim._id);
          } else await put(g.doc(`v${round}-${i}`));
        }
      }
      const uses = (a as unknown as { textIndexUses: number }).textIndexUses;
      // The index answered most queries (the rest were too short or not selective enough), the scan none.
      assert.ok(uses * 2 > queries, `index used ${uses} times for ${queries} queries`);
      assert.equal((b as unknown as { textIndexUses: number }).textIndexUses, 0);
    }
  });

  test('a search shorter than three characters, or switched off, is a scan with the same answer', async () => {
    const store = new MemoryReadModelStore();
    await store.ensureIndexes('users', [...EQUALITY, SEARCH_SPEC]);
    const users = store.collection<Doc>('users');
    const g = generator(7);
    for (let i = 0; i < 2000; i++) await users.put(g.doc(`u${i}`));
    const uses = () => (users as unknown as { textIndexUses: number }).textIndexUses;
    const query = async (needle: string) => {
      const p = { $regex: escapeRegex(needle), $options: 'i' };
      return users.findPage({ 'metadata.organizationId': 'o1', $and: [{ $or: FIELDS.map((f) => ({ [f]: p })) }] }, { sort: { 'metadata.name': 1, _id: 1 }, limit: 20 });
    };
    const short = await query('ab');
    assert.equal(uses(), 0);
    assert.ok(short.total > 0);
    const on = await query('abc');
    assert.equal(uses(), 1);
    store.searchIndexes = false;
    const off = await query('abc');
    assert.equal(uses(), 1);
    assert.deepEqual(off, on);
    store.searchIndexes = true;
    // A needle with a trigram no document has: nothing, at once.
    assert.deepEqual(await query('zzzzzzzzzz!'), { items: [], total: 0 });
  });

  test('a trigram held by a large share of documents is dropped (memory stays bounded) and the answers stay exact', async () => {
    const store = new MemoryReadModelStore();
    await store.ensureIndexes('users', [...EQUALITY, SEARCH_SPEC]);
    const users = store.collection<Doc>('users');
    const count = 20_000;
    for (let i = 0; i < count; i++) {
      await users.put({ _id: `u${i}`, metadata: { organizationId: 'o1', name: `user-${i.toString(36)}` }, spec: { subject: `u${i}@big.example.com` }, n: i % 10 });
    }
    const uses = () => (users as unknown as { textIndexUses: number }).textIndexUses;
    const query = (needle: string) => {
      const p = { $regex: escapeRegex(needle), $options: 'i' };
      return users.findPage({ 'metadata.organizationId': 'o1', $and: [{ $or: FIELDS.map((f) => ({ [f]: p })) }] }, { sort: { 'metadata.name': 1, _id: 1 }, limit: 5 });
    };
    // Every trigram of the domain is in every document: saturated, so the search is a scan.
    const all = await query('EXAMPLE.com');
    assert.equal(all.total, count);
    assert.equal(uses(), 0);
    // A rarer needle that shares saturated trigrams still uses the others.
    const one = await query('u12345@big');
    assert.deepEqual(ids(one.items), ['u12345']);
    assert.equal(uses(), 1);
    // Pages of a large partition in sort order (walked through the sorted index, or sorted): as the scan pages them.
    for (const needle of ['u12', 'user-a', '99@', 'u1234', '7@big']) {
      for (const [skip, limit, direction] of [[0, 100, 1], [0, 7, -1], [150, 50, 1], [2000, 500, -1], [0, 5000, 1]] as const) {
        const p = { $regex: escapeRegex(needle), $options: 'i' };
        const filter = { 'metadata.organizationId': 'o1', $and: [{ $or: FIELDS.map((f) => ({ [f]: p })) }] };
        const options = { sort: { 'metadata.name': direction, _id: direction }, skip, limit };
        const before = uses();
        const indexed = await users.findPage(filter, options);
        assert.equal(uses(), before + 1, needle);
        store.searchIndexes = false;
        const scanned = await users.findPage(filter, options);
        store.searchIndexes = true;
        assert.equal(indexed.total, scanned.total, `${needle} ${skip}`);
        assert.deepEqual(ids(indexed.items), ids(scanned.items), `${needle} ${skip} ${limit} ${direction}`);
      }
    }
    // Deletes and updates keep it exact.
    await users.delete('u12345');
    assert.equal((await query('u12345@big')).total, 0);
    await users.put({ _id: 'u1', metadata: { organizationId: 'o1', name: 'renamed' }, spec: { subject: 'u12345@big.example.com' }, n: 1 });
    assert.deepEqual(ids((await query('u12345@BIG')).items), ['u1']);
  });
});

describe('MongoDB trigram search (driver stand-in)', () => {
  const openMongo = async (db: FakeDb) => MongoReadModelStore.open(fakeClient(), db as unknown as Db, { firstRetryPauseMs: 5, versionRefreshMs: 50 });
  const field = trigramField([SEARCH_SPEC])!.name;

  test('declares a compound multikey index and stores the trigrams, which reads never show', async () => {
    const db = new FakeDb();
    const store = await openMongo(db);
    await store.ensureIndexes('users', [...EQUALITY, SEARCH_SPEC]);
    const keys = db.callsOf('createIndex', 'users').map((call) => call.args[0]);
    assert.deepEqual(keys, [{ 'metadata.organizationId': 1, 'metadata.name': 1, _id: 1 }, { 'metadata.organizationId': 1, [field]: 1 }]);
    const users = store.collection<Doc>('users');
    const doc: Doc = { _id: 'u1', metadata: { organizationId: 'o1', name: 'Alice-Adams', description: ['Ops'] }, spec: { subject: 'alice@x.io' }, n: 1, _position: '5/5' };
    await users.put(doc);
    assert.deepEqual(db.collection('users').docs.get('u1')![field], trigramsOf(['Alice-Adams', 'Ops', 'alice@x.io']));
    assert.deepEqual(await users.findById('u1'), doc);
    const p = { $regex: 'ADAMS', $options: 'i' };
    const page = await users.findPage({ 'metadata.organizationId': 'o1', $and: [{ $or: FIELDS.map((f) => ({ [f]: p })) }] }, { sort: { 'metadata.name': 1, _id: 1 }, limit: 10 });
    assert.deepEqual(page, { items: [doc], total: 1 });
    assert.deepEqual(await users.findOne({ 'spec.subject': p }), undefined);
    assert.deepEqual(await users.find({ 'spec.subject': { $regex: 'LICE@', $options: 'i' } }), [doc]);
    // The query sent carries the trigram condition beside the regex.
    const sent = db.callsOf('find', 'users').at(-1)!.args[0] as Filter;
    assert.deepEqual(sent, { 'spec.subject': { $regex: 'LICE@', $options: 'i' }, $and: [{ $or: [{ [field]: { $all: ['ce@', 'ice', 'lic'] } }, { [field]: { $exists: false } }] }] });
    // Too short: the filter goes as it came.
    await users.find({ 'spec.subject': { $regex: 'al', $options: 'i' } });
    assert.deepEqual(db.callsOf('find', 'users').at(-1)!.args[0], { 'spec.subject': { $regex: 'al', $options: 'i' } });
    await store.close();
  });

  test('property: answers as the in-memory store, also for documents written without trigrams or with other declared fields', async () => {
    const g = generator(11);
    const db = new FakeDb();
    const mongo = await openMongo(db);
    const memory = new MemoryReadModelStore();
    await mongo.ensureIndexes('users', [...EQUALITY, SEARCH_SPEC]);
    await memory.ensureIndexes('users', [...EQUALITY, SEARCH_SPEC]);
    const a = mongo.collection<Doc>('users');
    const b = memory.collection<Doc>('users');
    const live: Doc[] = [];
    for (let i = 0; i < 300; i++) {
      const doc = g.doc(`u${String(i).padStart(4, '0')}`);
      live.push(doc);
      await b.put(doc);
      if (i % 10 === 0) {
        // Written by an older instance, before search was declared.
        db.collection('users').docs.set(doc._id, structuredClone(doc));
      } else if (i % 10 === 1) {
        // Written while the declared fields were others: its trigrams are under another name.
        const other = trigramField([{ fields: [], search: ['metadata.name'] }])!.name;
        db.collection('users').docs.set(doc._id, { ...structuredClone(doc), [other]: trigramsOf([doc.metadata.name ?? '']) });
      } else if (i % 2 === 0) {
        await mongo.batch(() => a.put(doc));
      } else {
        await a.put(doc);
      }
    }
    let narrowed = 0;
    for (let q = 0; q < 80; q++) {
      const needle = g.needle(live);
      const pattern = { $regex: escapeRegex(needle), $options: 'i' };
      const fields = g.next() < 0.7 ? FIELDS : [g.pick(FIELDS)];
      const filter: Filter = { 'metadata.organizationId': g.pick(['o1', 'o2']), $and: [{ $or: fields.map((f) => ({ [f]: pattern })) }] };
      const options: FindOptions = { sort: { 'metadata.name': 1, _id: 1 }, skip: g.int(3), limit: 20 };
      const context = JSON.stringify({ q, filter });
      const [pageA, pageB] = await Promise.all([a.findPage(filter, options), b.findPage(filter, options)]);
      assert.equal(pageA.total, pageB.total, context);
      assert.deepEqual(pageA.items, pageB.items, context);
      if (JSON.stringify(db.callsOf('find', 'users').at(-1)!.args[0]).includes('$all')) narrowed++;
    }
    assert.ok(narrowed > 40, `${narrowed} of 80 queries narrowed by trigrams`);
    await mongo.close();
  });
});
