/**
 * Audit benchmark (`npm run bench:audit`): the audit log at 1,000,000 events.
 *
 * The log is the realistic mix of `npm run bench:startup` (organizations made
 * through the API, copied into the log; reused from its kept folder with
 * --keep). The service runs as a child process. Measured:
 *   - how long the audit index takes to file a log it has never seen;
 *   - the p50/p99 of an organization's filtered audit page (type=user.*, limit 100,
 *     over many organizations), and of a next page through the cursor;
 *   - the export rate (GET /api/v1/events as NDJSON, the whole log, read by a client),
 *     beside a plain better-sqlite3 scan of the same rows in the same run
 *     (each row read and written as one JSON line to nowhere); goal at least half;
 *   - an `asOf` read of one resource and of one list (cold, then warm).
 *
 *   node dist/scripts/bench-audit.js [--size 1000000] [--keep]
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { filledDataDir, makeTemplate, startChild, stopChild, TOKEN } from './bench-startup.js';

const arg = (name: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};

const summarize = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN, n: sorted.length };
};
const f1 = (n: number) => n.toFixed(1);
const int = (n: number) => Math.round(n).toLocaleString('en');

async function main(): Promise<void> {
  const size = Number(arg('--size') ?? 1_000_000);
  const keep = process.argv.includes('--keep');
  process.stderr.write('making the template organization through the API...\n');
  const template = await makeTemplate();
  const filled = await filledDataDir(template, size, keep);
  const auth = { authorization: `Bearer ${TOKEN}` };

  // The reference: a plain scan of the same rows, each written as a JSON line to nowhere.
  const db = new Database(join(filled.dir, 'events.sqlite'), { readonly: true });
  const scanStarted = performance.now();
  let scanned = 0;
  let scannedBytes = 0;
  for (const row of db.prepare('SELECT position, stream_name, revision, type, data, metadata FROM events ORDER BY position').iterate() as Iterable<Record<string, unknown>>) {
    scannedBytes += JSON.stringify(row).length + 1;
    scanned++;
  }
  const scanSeconds = (performance.now() - scanStarted) / 1000;
  const head = (db.prepare('SELECT MAX(position) AS p FROM events').get() as { p: number }).p;
  db.close();

  const run = await startChild(filled.dir, { READ_MODEL_SNAPSHOTS: 'false', LOG_LEVEL: 'warn' });
  try {
    const get = (path: string, accept = 'application/json') => fetch(`${run.baseUrl}${path}`, { headers: { ...auth, accept } });

    // Index catch-up: until the newest event of the filled log is filed.
    const indexStarted = performance.now();
    for (;;) {
      const newest = await get('/api/v1/events?limit=1');
      const body = (await newest.json()) as { items: Array<{ position: string }> };
      if (body.items[0] && Number(body.items[0].position.split('/')[0]) >= head) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const indexSeconds = (performance.now() - indexStarted) / 1000 + run.readySeconds;

    const orgs = ((await (await get('/api/v1/events?type=organization.created&limit=200')).json()) as { items: Array<{ organizationID: string; time: string }> }).items;
    const pages: number[] = [];
    const nextPages: number[] = [];
    for (let i = 0; i < 300; i++) {
      const org = orgs[i % orgs.length]!.organizationID;
      let started = performance.now();
      const page = (await (await get(`/api/v1/organizations/${org}/events?type=user.*&limit=100`)).json()) as { next: string | null };
      pages.push(performance.now() - started);
      if (page.next) {
        started = performance.now();
        await (await get(`/api/v1/organizations/${org}/events?type=user.*&limit=100&cursor=${encodeURIComponent(page.next)}`)).arrayBuffer();
        nextPages.push(performance.now() - started);
      }
    }

    const exportStarted = performance.now();
    const response = await get('/api/v1/events?order=asc', 'application/x-ndjson');
    let lines = 0;
    let bytes = 0;
    const decoder = response.body!.getReader();
    for (;;) {
      const { done, value } = await decoder.read();
      if (done) break;
      bytes += value.length;
      for (const byte of value) if (byte === 10) lines++;
    }
    const exportSeconds = (performance.now() - exportStarted) / 1000;

    // asOf: one user and the users list of an organization, as of just after it was made.
    const org = orgs[Math.floor(orgs.length / 2)]!;
    // The seed 004 lists answer a JSON array (with X-Total-Count).
    const listed = (await (await get(`/api/v1/organizations/${org.organizationID}/users`)).json()) as Array<{ metadata: { id: string } }> | { items?: Array<{ metadata: { id: string } }> };
    const users = Array.isArray(listed) ? listed : (listed.items ?? []);
    if (users.length === 0) throw new Error(`organization ${org.organizationID} has no users to read as of a moment`);
    const asOf = new Date(Date.parse(org.time) + 60_000).toISOString();
    const timed = async (path: string) => {
      const started = performance.now();
      const r = await get(path);
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
      return performance.now() - started;
    };
    const one = `/api/v1/organizations/${org.organizationID}/users/${users[0]!.metadata.id}?asOf=${asOf}`;
    const list = `/api/v1/organizations/${org.organizationID}/users?asOf=${asOf}`;
    const asOfOne = [await timed(one), await timed(one)];
    const asOfList = [await timed(list), await timed(list)];

    const p = summarize(pages);
    const n = summarize(nextPages);
    console.log(`\n### Audit log at ${int(size)} events\n`);
    console.log(`| measure | figure |`);
    console.log(`| --- | ---: |`);
    console.log(`| index filed the whole log (spawn to the newest event visible) | ${f1(indexSeconds)} s |`);
    console.log(`| organization page, type=user.*, limit 100: p50 / p99 / max (${p.n} requests) | ${f1(p.p50)} / ${f1(p.p99)} / ${f1(p.max)} ms |`);
    console.log(`| next page through the cursor: p50 / p99 / max (${n.n}) | ${f1(n.p50)} / ${f1(n.p99)} / ${f1(n.max)} ms |`);
    console.log(`| export, NDJSON over HTTP, whole log | ${int(lines)} events, ${f1(bytes / 2 ** 20)} MiB in ${f1(exportSeconds)} s: ${int(lines / exportSeconds)} events/s |`);
    console.log(`| reference: plain better-sqlite3 scan, one JSON line per row | ${int(scanned)} rows, ${f1(scannedBytes / 2 ** 20)} MiB in ${f1(scanSeconds)} s: ${int(scanned / scanSeconds)} rows/s |`);
    console.log(`| export rate / scan rate | ${(lines / exportSeconds / (scanned / scanSeconds)).toFixed(2)}× (goal ≥ 0.5×) |`);
    console.log(`| asOf read of one user: cold / warm | ${f1(asOfOne[0]!)} / ${f1(asOfOne[1]!)} ms |`);
    console.log(`| asOf read of an organization's users list: cold / warm | ${f1(asOfList[0]!)} / ${f1(asOfList[1]!)} ms |`);
  } finally {
    await stopChild(run);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
