/**
 * In-process harness for issue 14's filter-expression page: the users read
 * model (MemoryReadModelStore with the users projection's indexes) holding
 * one organization of N users shaped as bench-queries loads them, and
 * `UserQueries.list` called as the API calls it, each call in its own turn
 * of the event loop. With WRITE=1, one user is written again before each
 * call, so nothing the planner kept since the last write can be used.
 *
 *   node dist/scripts/bench-filter-page.js [users (100000)] [calls (200)]
 */
import { MemoryReadModelStore } from '../src/infra/memory/memory-read-models.js';
import { USERS, usersProjection, type UserDocument } from '../src/projections/users/projection.js';
import { UserQueries } from '../src/projections/users/queries.js';

const N = Number(process.argv[2] ?? 100_000);
const CALLS = Number(process.argv[3] ?? 200);
const FIRST = ['alice', 'bruno', 'chloe', 'dmitri', 'elena', 'farid', 'grace', 'hiro', 'ines', 'jonas', 'kofi', 'lena', 'mateo', 'nadia', 'oskar', 'priya', 'quentin', 'rosa', 'sven', 'tamar', 'umar', 'vera', 'wei', 'ximena', 'yusuf', 'zoe'];
const LAST = ['adams', 'becker', 'costa', 'dubois', 'eriksen', 'fischer', 'garcia', 'horvat', 'ivanova', 'jensen', 'kowalski', 'lopez', 'martin', 'novak', 'okafor', 'petrov', 'rossi', 'silva', 'tanaka', 'weber'];
const ORG = 'org-big';

async function main(): Promise<void> {
  const store = new MemoryReadModelStore();
  await store.ensureIndexes(USERS, usersProjection.indexes ?? []);
  const users = store.collection<UserDocument>(USERS);
  const start = Date.parse('2026-01-01T00:00:00Z');
  for (let index = 0; index < N; index++) {
    const first = FIRST[(index * 7919) % FIRST.length]!;
    const last = LAST[(index * 104729) % LAST.length]!;
    const bucket = (index * 37) % 100;
    const state = bucket < 80 ? 'active' : bucket < 95 ? 'pending' : 'suspended';
    const id = `u-${index.toString().padStart(7, '0')}`;
    const subject = `${first}.${last}.${index}@big.example.com`;
    await users.put({
      _id: id,
      _position: String(index),
      subjectKey: subject.toLowerCase(),
      metadata: { id, name: `${first}-${last}-${index.toString(36)}`, tags: [], organizationId: ORG, creationTime: new Date(start + index * 1000).toISOString(), createdBy: 'bench', provisioningStatus: 'provisioned', healthStatus: 'healthy' },
      spec: { subject, state, groupIDs: [] },
      status: {},
    } as unknown as UserDocument);
  }
  const queries = new UserQueries(store);
  const cases: [string, Record<string, unknown>][] = [
    ['filterBy state==active + 2 scans', { filterBy: ['state==active', 'subject=@example.com', 'creationTime>=2000-01-01T00:00:00Z'], sortBy: 'name', sortOrder: 'desc', offset: 500, limit: 100 }],
    ['filterExpression 5 clauses', { filterExpression: "state EQ 'active' AND NOT name CONTAINS 'zoe' AND (subject CONTAINS 'alice' OR subject CONTAINS 'example.com') AND creationTime GE 2000-01-01T00:00:00Z", sortBy: 'name', sortOrder: 'desc', offset: 500, limit: 100 }],
    ['search=alice', { search: 'alice', sortBy: 'name', sortOrder: 'asc', offset: 0, limit: 100 }],
  ];
  const only = process.env.CASE;
  for (const [label, query] of cases) {
    if (only && !label.includes(only)) continue;
    const times: number[] = [];
    let total = 0;
    let first = '';
    for (let i = 0; i < CALLS; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      if (process.env.WRITE === '1') {
        const doc = (await users.findById(`u-${(i * 7).toString().padStart(7, '0')}`))!;
        await users.put({ ...doc, _position: `w${i}` });
      }
      const t0 = performance.now();
      const page = (await queries.list(ORG, query as never)) as unknown as { items: { metadata: { name: string } }[]; totalSize?: number; total?: number };
      times.push(performance.now() - t0);
      total = (page.totalSize ?? page.total ?? 0) as number;
      first = page.items[0]?.metadata.name ?? '';
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
    console.log(`${label.padEnd(36)} total ${total} first ${first}  min ${at(0)} p50 ${at(0.5)} p99 ${at(0.99)} ms`);
  }
  if (!only || 'cursor walk'.includes(only)) {
    // A cursor walk through the five-clause expression, 100 a page, by name: each page timed.
    const times: number[] = [];
    let cursor: string | undefined;
    let items = 0;
    do {
      await new Promise((resolve) => setImmediate(resolve));
      const t0 = performance.now();
      const page = (await queries.search(ORG, { filterExpression: cases[1]![1].filterExpression as string, sortBy: 'name', sortOrder: 'asc', cursor, limit: 100 })) as unknown as {
        items: unknown[];
        response_metadata: { next_cursor?: string | null };
      };
      times.push(performance.now() - t0);
      items += page.items.length;
      cursor = page.response_metadata.next_cursor ?? undefined;
    } while (cursor);
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
    console.log(`${'cursor walk, 5 clauses'.padEnd(36)} pages ${times.length} items ${items}  min ${at(0)} p50 ${at(0.5)} p99 ${at(0.99)} ms`);
  }
}

await main();
