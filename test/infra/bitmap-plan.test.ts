import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mingoPredicate } from '../../src/query/filter-predicate.js';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import type { Collection, Document, Filter, FindOptions, IndexSpec } from '../../src/ports/read-models.js';
import { compileFilterExpression, cursorPage, type ListFields } from '../../src/query/index.js';
import { random } from '../support/random.js';

/**
 * The bitmap planner (src/infra/memory/bitmap-plan.ts) answers filters on a
 * large pinned partition through text columns, trigram postings and sorted
 * lists. Property: on random documents (both letter cases, non-ASCII letters,
 * regex metacharacters, NUL, arrays, numbers where text is expected) and
 * random filter expressions (CONTAINS, SEARCH, ranges, equalities, IN, NOT,
 * AND, OR), through writes that change only the letter case, change the
 * text, move documents between organizations and delete them, every page and
 * total is the scan's (the same store with its indexes switched off) and the
 * direct evaluator's (mingo over every document).
 */

const FIELDS: ListFields = {
  name: { path: 'metadata.name', type: 'string' },
  description: { path: 'metadata.description', type: 'string' },
  subject: { path: 'spec.subject', type: 'string' },
  state: { path: 'spec.state', type: 'string', searchable: false },
  n: { path: 'n', type: 'number', searchable: false },
  created: { path: 'metadata.creationTime', type: 'date', searchable: false },
};
const TEXT = ['metadata.name', 'metadata.description', 'spec.subject'];
const INDEXES: IndexSpec[] = [
  { fields: ['metadata.organizationId'] },
  { fields: ['spec.state'] },
  { fields: ['metadata.organizationId'], search: TEXT },
];
const ALPHABET = 'abcdeABCDE01.-@_ (*?\\\'"\u212a\u017f\u0131\u00e9\u00c9';
const STATES = ['active', 'active', 'active', 'pending', 'suspended'];

interface Doc extends Document {
  metadata: { organizationId: string; name?: unknown; description?: unknown; creationTime: string };
  spec: { subject?: unknown; state: string };
  n?: number;
}

function generator(seed: number) {
  const next = random(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(list: readonly T[]) => list[int(list.length)]!;
  const text = (max: number) => Array.from({ length: int(max + 1) }, () => ALPHABET[int(ALPHABET.length)]).join('');
  const doc = (id: string, org = next() < 0.9 ? 'o1' : 'o2'): Doc => {
    const r = next();
    const description = r < 0.05 ? [text(6), text(6)] : r < 0.08 ? 7 : r < 0.1 ? `a\u0000b${text(3)}` : r < 0.5 ? text(12) : undefined;
    return {
      _id: id,
      metadata: {
        organizationId: org,
        ...(next() < 0.95 && { name: `${pick(['ann', 'Bob', 'ZOE', 'éva'])}-${text(8)}` }),
        ...(description !== undefined && { description }),
        creationTime: new Date(Date.UTC(2026, 0, 1) + int(1000) * 60_000).toISOString(),
      },
      spec: { subject: next() < 0.03 ? null : `${text(6)}@${pick(['example.com', 'Example.ORG', 'x.io'])}`, state: pick(STATES) },
      ...(next() < 0.9 && { n: int(20) }),
    };
  };
  const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const flip = (s: string) => [...s].map((c) => (next() < 0.3 ? (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) : c)).join('');
  const needle = (docs: readonly Doc[]): string => {
    if (next() < 0.15) return text(1 + int(5));
    const values = [pick(docs).metadata.name, pick(docs).metadata.description, pick(docs).spec.subject].filter((v): v is string => typeof v === 'string' && v.length > 0 && !v.includes('\u0000'));
    if (values.length === 0) return 'ann';
    const value = pick(values);
    const length = next() < 0.25 ? 1 + int(2) : 3 + int(6);
    const start = int(Math.max(1, value.length - length + 1));
    const piece = value.slice(start, start + length) || 'a';
    return next() < 0.3 ? flip(piece) : piece;
  };
  const condition = (docs: readonly Doc[]): string => {
    switch (int(9)) {
      case 0:
      case 1:
        return `${pick(['name', 'description', 'subject'])} CONTAINS ${quote(needle(docs))}`;
      case 2:
        return `SEARCH ${quote(needle(docs))}`;
      case 3:
        return `n ${pick(['GE', 'GT', 'LE', 'LT', 'EQ', 'NE'])} ${int(22) - 1}`;
      case 4:
        return `created ${pick(['GE', 'LT'])} ${new Date(Date.UTC(2026, 0, 1) + int(1000) * 60_000).toISOString()}`;
      case 5:
        return `state ${pick(['EQ', 'NE'])} ${quote(pick(STATES))}`;
      case 6:
        return `state IN [${quote(pick(STATES))}, ${quote(pick(STATES))}]`;
      case 7: {
        const name = pick(docs).metadata.name;
        return `name ${pick(['EQ', 'GT', 'LE'])} ${quote(typeof name === 'string' ? name : 'm')}`;
      }
      default:
        return `name EQ nil`;
    }
  };
  const expression = (docs: readonly Doc[], depth = 0): string => {
    const r = next();
    if (depth >= 3 || r < 0.35) return condition(docs);
    if (r < 0.5) return `NOT (${expression(docs, depth + 1)})`;
    return `(${expression(docs, depth + 1)}) ${pick(['AND', 'OR'])} (${expression(docs, depth + 1)})`;
  };
  return { next, int, pick, doc, expression, flip, text };
}

const ids = (docs: readonly Document[]) => docs.map((d) => d._id);

describe('bitmap planner (in memory)', () => {
  test('property: pages and totals through the planner equal the scan and the evaluator, through writes', async () => {
    const g = generator(11);
    const indexed = new MemoryReadModelStore();
    const scanned = new MemoryReadModelStore();
    await indexed.ensureIndexes('users', INDEXES);
    await scanned.ensureIndexes('users', INDEXES);
    scanned.searchIndexes = false;
    const a = indexed.collection<Doc>('users');
    const b = scanned.collection<Doc>('users');
    const live = new Map<string, Doc>();
    const put = async (doc: Doc) => {
      live.set(doc._id, doc);
      await a.put(doc);
      await b.put(doc);
    };
    // Over 4,096 in the large organization: the planner's threshold.
    for (let i = 0; i < 5200; i++) await put(g.doc(`u${String(i).padStart(5, '0')}`));
    const plannerUses = () => (a as unknown as { bitmapPlanUses: number }).bitmapPlanUses;
    let queries = 0;
    // Some expressions of earlier rounds are asked again after the writes: the planner's kept bitmaps must follow them.
    const asked: string[] = [];
    for (let round = 0; round < 4; round++) {
      for (let q = 0; q < 40; q++) {
        const docs = [...live.values()];
        const expression = asked.length > 0 && g.next() < 0.3 ? g.pick(asked) : g.expression(docs);
        asked.push(expression);
        const org = g.pick(['o1', 'o1', 'o1', 'o2']);
        const filter: Filter = { 'metadata.organizationId': org, $and: [compileFilterExpression(expression, FIELDS)] };
        const direction = g.pick([1, -1] as const);
        const options: FindOptions = { sort: { [g.pick(['metadata.name', 'n', 'metadata.creationTime'])]: direction, _id: direction }, skip: g.pick([0, 0, 7, 300]), limit: g.pick([1, 20, 100]) };
        const context = JSON.stringify({ round, q, expression, org, options });
        const matches = mingoPredicate(filter);
        const expected = docs.filter((d) => matches(d)).length;
        const pageA = await a.findPage(filter, options);
        const pageB = await b.findPage(filter, options);
        assert.equal(pageA.total, expected, context);
        assert.equal(pageB.total, expected, context);
        assert.deepEqual(ids(pageA.items), ids(pageB.items), context);
        queries++;
      }
      // Letter case only (the lower-cased text stays, the columns must change), other text, other fields, moves, deletes, new ones.
      const docs = [...live.values()];
      for (let i = 0; i < 400; i++) {
        const victim = g.pick(docs);
        const r = g.next();
        if (r < 0.25 && typeof victim.metadata.name === 'string') await put({ ...victim, metadata: { ...victim.metadata, name: g.flip(victim.metadata.name) } });
        else if (r < 0.45) await put(g.doc(victim._id, victim.metadata.organizationId));
        else if (r < 0.6) await put({ ...victim, n: g.int(20) });
        else if (r < 0.7) await put({ ...victim, metadata: { ...victim.metadata, organizationId: victim.metadata.organizationId === 'o1' ? 'o2' : 'o1' } });
        else if (r < 0.85 && live.has(victim._id)) {
          live.delete(victim._id);
          await a.delete(victim._id);
          await b.delete(victim._id);
        } else await put(g.doc(`n${round}-${i}`));
      }
    }
    // The planner answered most of them (the rest: nothing it serves, or a slice).
    assert.ok(plannerUses() * 2 > queries, `planner used ${plannerUses()} times for ${queries} queries`);
    assert.equal((b as unknown as { bitmapPlanUses: number }).bitmapPlanUses, 0);
  });

  test('CONTAINS is case-sensitive and SEARCH folds ASCII letters only; short needles, unicode and escaping as the scan', async () => {
    const store = new MemoryReadModelStore();
    await store.ensureIndexes('users', INDEXES);
    const users = store.collection<Doc>('users');
    const names = ['Alice-Smith', 'alice-jones', 'ALICE', 'a.b*c(d)', "o'neil\\x", 'K-\u212aelvin', 'stra\u00dfe', 'caf\u00e9', 'CAF\u00c9'];
    for (let i = 0; i < 6000; i++) {
      await users.put({ _id: `u${String(i).padStart(5, '0')}`, metadata: { organizationId: 'o1', name: `${names[i % names.length]}-${i}`, creationTime: '2026-01-01T00:00:00.000Z' }, spec: { subject: `u${i}@example.com`, state: 'active' }, n: i % 7 });
    }
    const page = async (expression: string) => {
      const filter = { 'metadata.organizationId': 'o1', $and: [compileFilterExpression(expression, FIELDS)] };
      const result = await users.findPage(filter, { sort: { 'metadata.name': 1, _id: 1 }, limit: 3 });
      store.searchIndexes = false;
      const scan = await users.findPage(filter, { sort: { 'metadata.name': 1, _id: 1 }, limit: 3 });
      store.searchIndexes = true;
      assert.deepEqual(result, scan, expression);
      return result;
    };
    const uses = () => (users as unknown as { bitmapPlanUses: number }).bitmapPlanUses;
    const before = uses();
    const all = Array.from({ length: 6000 }, (_, i) => ({ name: `${names[i % names.length]}-${i}`, subject: `u${i}@example.com`, n: i % 7 }));
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const count = (test: (doc: (typeof all)[number]) => boolean) => all.filter(test).length;
    const contains = (needle: string) => count((d) => d.name.includes(needle));
    const search = (needle: string) => count((d) => new RegExp(escape(needle), 'i').test(d.name) || new RegExp(escape(needle), 'i').test(d.subject));
    assert.equal((await page("name CONTAINS 'Alice'")).total, contains('Alice'));
    assert.equal(contains('Alice'), 667);
    assert.equal((await page("name CONTAINS 'alice'")).total, contains('alice'));
    assert.equal((await page("name CONTAINS 'ALICE'")).total, contains('ALICE'));
    assert.equal((await page("SEARCH 'alice'")).total, search('alice'));
    assert.equal(search('alice'), 2001);
    // One and two characters: the column answers (no trigram), exactly.
    assert.equal((await page("name CONTAINS 'A'")).total, contains('A'));
    assert.equal((await page("name CONTAINS 'e-'")).total, contains('e-'));
    // Metacharacters and quotes are literal text.
    assert.equal((await page("name CONTAINS 'b*c('")).total, contains('b*c('));
    assert.equal((await page("name CONTAINS 'o\\'neil\\\\x'")).total, contains("o'neil\\x"));
    assert.equal(contains("o'neil\\x"), 667);
    assert.equal((await page("name CONTAINS '.'")).total, contains('.'));
    // Unicode: case-sensitive CONTAINS matches it as written; SEARCH never folds the Kelvin sign onto k.
    assert.equal((await page("name CONTAINS '\u212aelvin'")).total, 667);
    assert.equal((await page("SEARCH 'kelvin'")).total, 0);
    assert.equal((await page("name CONTAINS 'caf\u00e9'")).total, contains('caf\u00e9'));
    assert.equal((await page("SEARCH 'caf\u00e9'")).total, search('caf\u00e9'));
    assert.equal((await page("NOT name CONTAINS 'alice' AND n GE 3")).total, count((d) => !d.name.includes('alice') && d.n >= 3));
    assert.ok(uses() - before >= 12, `planner used ${uses() - before} times`);
  });

  test('answers kept between requests: the same filters asked again after every kind of write equal the evaluator', async () => {
    const g = generator(23);
    const store = new MemoryReadModelStore();
    await store.ensureIndexes('users', INDEXES);
    const users = store.collection<Doc>('users');
    const live = new Map<string, Doc>();
    const put = async (doc: Doc) => {
      live.set(doc._id, doc);
      await users.put(doc);
    };
    for (let i = 0; i < 5000; i++) await put(g.doc(`u${String(i).padStart(5, '0')}`, 'o1'));
    const expressions = [
      "state EQ 'active' AND NOT name CONTAINS 'ann' AND (subject CONTAINS 'a' OR subject CONTAINS 'example.com') AND created GE 2026-01-01T05:00:00Z",
      // The same conditions in another combination: the single-condition bitmaps are shared.
      "name CONTAINS 'ann' OR created LT 2026-01-01T05:00:00Z",
      "SEARCH 'bob' AND subject CONTAINS 'example.com'",
    ];
    const uses = () => (users as unknown as { bitmapPlanUses: number }).bitmapPlanUses;
    const before = uses();
    const check = async (step: string) => {
      for (const expression of expressions) {
        const filter: Filter = { 'metadata.organizationId': 'o1', $and: [compileFilterExpression(expression, FIELDS)] };
        const matches = mingoPredicate(filter);
        const expected = [...live.values()].filter((d) => matches(d));
        // Twice in a row (the second from what was kept), with two sorts of one partition.
        for (const options of [{ sort: { 'metadata.name': -1, _id: -1 }, skip: 10, limit: 50 }, { sort: { 'metadata.name': -1, _id: -1 }, skip: 10, limit: 50 }, { sort: { n: 1, _id: 1 }, limit: 20 }] as FindOptions[]) {
          const page = await users.findPage(filter, options);
          store.searchIndexes = false;
          const scan = await users.findPage(filter, options);
          store.searchIndexes = true;
          assert.equal(page.total, expected.length, `${step}: ${expression}`);
          assert.deepEqual(ids(page.items), ids(scan.items), `${step}: ${expression}`);
        }
        // A cursor's position: a range on the sort field beside the expression, short and long (its total counted inside or outside it).
        const names = [...live.values()].map((d) => d.metadata.name).filter((n): n is string => typeof n === 'string').sort();
        for (const at of [0.05, 0.5, 0.97]) {
          const position = names[Math.floor(at * names.length)]!;
          const ranged: Filter = { 'metadata.organizationId': 'o1', $and: [compileFilterExpression(expression, FIELDS), { 'metadata.name': { $lt: position } }] };
          const matching = mingoPredicate(ranged);
          const options: FindOptions = { sort: { 'metadata.name': -1, _id: -1 }, limit: 30 };
          const page = await users.findPage(ranged, options);
          store.searchIndexes = false;
          const scan = await users.findPage(ranged, options);
          store.searchIndexes = true;
          assert.equal(page.total, [...live.values()].filter((d) => matching(d)).length, `${step}: ${expression} < ${position}`);
          assert.deepEqual(ids(page.items), ids(scan.items), `${step}: ${expression} < ${position}`);
        }
      }
    };
    await check('loaded');
    const victim = () => g.pick([...live.values()]);
    const v1 = victim();
    await put({ ...v1, metadata: { ...v1.metadata, name: 'ann-renamed' } });
    await check('a name now contains ann');
    const v2 = victim();
    await put({ ...v2, spec: { ...v2.spec, state: v2.spec.state === 'active' ? 'pending' : 'active' } });
    await check('a state changed');
    const v3 = victim();
    await put({ ...v3, metadata: { ...v3.metadata, creationTime: '2025-06-01T00:00:00.000Z' } });
    await check('a creation time moved');
    const v4 = victim();
    live.delete(v4._id);
    await users.delete(v4._id);
    await check('a user deleted');
    const v5 = victim();
    await put({ ...v5, metadata: { ...v5.metadata, organizationId: 'o2' } });
    live.delete(v5._id);
    await check('a user moved to another organization');
    await put(g.doc('new-one', 'o1'));
    await check('a user added');
    (users as unknown as { restore(doc: Doc): void }).restore({ ...v1, metadata: { ...v1.metadata, name: 'zed' } });
    live.set(v1._id, { ...v1, metadata: { ...v1.metadata, name: 'zed' } });
    await check('a user restored from a snapshot');
    assert.ok(uses() - before >= 7 * 9, `planner used ${uses() - before} times`);
  });

  test('cursor pages through the planner walk every match once, in order, as the scan does', async () => {
    const g = generator(5);
    const store = new MemoryReadModelStore();
    await store.ensureIndexes('users', INDEXES);
    const users = store.collection<Doc>('users');
    for (let i = 0; i < 5000; i++) await users.put(g.doc(`u${String(i).padStart(5, '0')}`, 'o1'));
    const walk = async (collection: Collection<Doc>, expression: string) => {
      const filter = { 'metadata.organizationId': 'o1', $and: [compileFilterExpression(expression, FIELDS)] };
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await cursorPage(collection, FIELDS, { filter, sortBy: 'name', sortOrder: 'desc', cursor, limit: 97 }, (doc) => doc._id);
        seen.push(...page.items);
        cursor = page.response_metadata.next_cursor ?? undefined;
      } while (cursor);
      return seen;
    };
    for (const expression of ["state EQ 'active' AND NOT name CONTAINS 'ann' AND (subject CONTAINS 'a' OR subject CONTAINS 'example.com')", "SEARCH 'bob' OR n LT 3"]) {
      const indexed = await walk(users, expression);
      store.searchIndexes = false;
      const scanned = await walk(users, expression);
      store.searchIndexes = true;
      assert.ok(indexed.length > 100, expression);
      assert.equal(new Set(indexed).size, indexed.length, expression);
      assert.deepEqual(indexed, scanned, expression);
    }
  });
});
