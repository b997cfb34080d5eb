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
 * The scan and the export run `--rounds` times alternated (default 3) and
 * their medians are compared, by wall clock and by CPU time (the service's,
 * read from /proc; the scan's own): the CPU figure holds up better when
 * other work loads the machine. `--child-cpu-prof DIR` runs the service
 * with `node --cpu-prof` into DIR (the profile is written when it stops).
 *
 *   node dist/scripts/bench-audit.js [--size 1000000] [--keep] [--rounds 3] [--child-cpu-prof DIR]
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
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

/** One pass of the export or of the reference scan. */
interface Pass {
  count: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
}
/** The pass of median wall time. */
const medianPass = (passes: Pass[]): Pass => [...passes].sort((a, b) => a.seconds - b.seconds)[Math.floor(passes.length / 2)]!;

/** CPU seconds (user and system) a process has used so far, from /proc (Linux; USER_HZ is 100). */
const cpuSecondsOf = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const int = (n: number) => Math.round(n).toLocaleString('en');

async function main(): Promise<void> {
  const size = Number(arg('--size') ?? 1_000_000);
  const keep = process.argv.includes('--keep');
  const rounds = Number(arg('--rounds') ?? 3);
  const profileDir = arg('--child-cpu-prof');
  process.stderr.write('making the template organization through the API...\n');
  const template = await makeTemplate();
  const filled = await filledDataDir(template, size, keep);
  const auth = { authorization: `Bearer ${TOKEN}` };

  // The reference: a plain scan of the same rows, each written as a JSON line to nowhere.
  const db = new Database(join(filled.dir, 'events.sqlite'), { readonly: true });
  const head = (db.prepare('SELECT MAX(position) AS p FROM events').get() as { p: number }).p;
  const scanStatement = db.prepare('SELECT position, stream_name, revision, type, data, metadata FROM events ORDER BY position');
  const scan = (): Pass => {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let rows = 0;
    let bytes = 0;
    for (const row of scanStatement.iterate() as Iterable<Record<string, unknown>>) {
      bytes += JSON.stringify(row).length + 1;
      rows++;
    }
    const cpu = process.cpuUsage(cpuBefore);
    return { count: rows, bytes, seconds: (performance.now() - started) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  };

  const run = await startChild(filled.dir, { READ_MODEL_SNAPSHOTS: 'false', LOG_LEVEL: 'warn' }, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
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

    // The export (the service's CPU time from /proc: what it spends per event, whatever else runs on the machine).
    const exportPass = async (): Promise<Pass> => {
      const cpuBefore = cpuSecondsOf(run.child.pid!);
      const started = performance.now();
      // Once more when the request could not be sent: the scan before it may outlast the server's
      // keep-alive timeout (5 s), and the client may reuse the socket as the server closes it.
      const response = await get('/api/v1/events?order=asc', 'application/x-ndjson').catch(() => get('/api/v1/events?order=asc', 'application/x-ndjson'));
      let lines = 0;
      let bytes = 0;
      const reader = response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.length;
        // indexOf, not a loop over every byte: the client's cost is not the export's.
        for (let at = value.indexOf(10); at >= 0; at = value.indexOf(10, at + 1)) lines++;
      }
      const seconds = (performance.now() - started) / 1000;
      return { count: lines, bytes, seconds, cpuSeconds: cpuSecondsOf(run.child.pid!) - cpuBefore };
    };
    // Scan and export alternated, so that both see the same load; the medians are compared.
    const scans: Pass[] = [];
    const exports: Pass[] = [];
    for (let round = 0; round < rounds; round++) {
      process.stderr.write(`round ${round + 1} of ${rounds}: scan, export...\n`);
      scans.push(scan());
      exports.push(await exportPass());
    }
    db.close();

    // asOf: one user and the users list of an organization, as of just after it was made.
    const org = orgs[Math.floor(orgs.length / 2)]!;
    // The seed 004 lists answer a JSON array (with X-Total-Count).
    const listed = (await (await get(`/api/v1/organizations/${org.organizationID}/users`)).json()) as Array<{ metadata: { id: string } }> | { items?: Array<{ metadata: { id: string } }> };
    const users = Array.isArray(listed) ? listed : (listed.items ?? []);
    if (users.length === 0) throw new Error(`organization ${org.organizationID} has no users to read as of a moment`);
    // Not in the future (a 400): a log filled a moment ago.
    const asOf = new Date(Math.min(Date.parse(org.time) + 60_000, Date.now() - 1000)).toISOString();
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
    const e = medianPass(exports);
    const r = medianPass(scans);
    const rate = (pass: Pass) => pass.count / pass.seconds;
    const perCpu = (pass: Pass) => pass.count / pass.cpuSeconds;
    console.log(`| export, NDJSON over HTTP, whole log (median of ${rounds}) | ${int(e.count)} events, ${f1(e.bytes / 2 ** 20)} MiB in ${f1(e.seconds)} s: ${int(rate(e))} events/s; the service's CPU ${f1(e.cpuSeconds)} s: ${int(perCpu(e))} events per CPU second |`);
    console.log(`| reference: plain better-sqlite3 scan, one JSON line per row (median of ${rounds}) | ${int(r.count)} rows, ${f1(r.bytes / 2 ** 20)} MiB in ${f1(r.seconds)} s: ${int(rate(r))} rows/s; CPU ${f1(r.cpuSeconds)} s: ${int(perCpu(r))} rows per CPU second |`);
    console.log(`| export rate / scan rate (wall clock; per CPU second) | **${(rate(e) / rate(r)).toFixed(2)}×**; ${(perCpu(e) / perCpu(r)).toFixed(2)}× (goal ≥ 0.5×) |`);
    console.log(`| each round: export / scan, events/s | ${exports.map((pass, i) => `${int(rate(pass))} / ${int(rate(scans[i]!))}`).join('; ')} |`);
    console.log(`| asOf read of one user: cold / warm | ${f1(asOfOne[0]!)} / ${f1(asOfOne[1]!)} ms |`);
    console.log(`| asOf read of an organization's users list: cold / warm | ${f1(asOfList[0]!)} / ${f1(asOfList[1]!)} ms |`);
  } catch (error) {
    // What the service logged (warnings and errors) says why a request failed.
    process.stderr.write(`the service's last log lines:\n${run.logs.slice(-10).join('\n')}\n`);
    throw error;
  } finally {
    await stopChild(run);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
