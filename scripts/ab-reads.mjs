// Main-thread CPU time per userinfo / introspection request, two builds A/B alternated in one process (issue 16,
// rounds 4 and 5: the read paths). Each root's own bench harness starts its service (startBenchService, 32 users
// logged in, request log at info); one persistent worker thread (ab-reads-load.mjs) sends the load over 32
// keep-alive lanes, 300 requests of warm-up then `AB_COUNT` (default 3000) per window, the builds alternated
// window by window and the order swapped every round; round 0 is not counted. Charged: the main thread's
// utime + stime (/proc/self/task/<pid>/stat) per answered request; medians over the counted rounds. Rounds of
// one build differ under load: read the medians, and run it again with the sides swapped.
//
//   AB_COUNT=3000 node scripts/ab-reads.mjs <rootA> <rootB> [rounds=4, round 5 used 7] [unused] [cases=introspection,userinfo]
//
// A root is a folder with a built dist/ and node_modules (e.g. `git archive <commit> | tar -x -C DIR`, a symlink to
// node_modules, `npm run build` there). Linux only (/proc).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
const [rootA, rootB, rounds = '4', seconds = '3', cases = 'introspection,userinfo'] = process.argv.slice(2);
const imp = (root, p) => import(pathToFileURL(`${root}/dist/scripts/bench/${p}`).href);
const ticks = () => { const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
const HZ = 100;
async function subject(root, label) {
  const { startBenchService } = await imp(root, 'service.js');
  const { setUpTenant, SETUP_CONCURRENCY } = await imp(root, 'our-provider.js');
  const { mapWithConcurrency } = await imp(root, 'load.js');
  const bench = await startBenchService({ name: `ab-${label}`, logLevel: 'info', env: { THROTTLE_TOKEN_REQUESTS_PER_MINUTE: '1000000' } });
  const tenant = await setUpTenant(bench, 32);
  const sessions = await mapWithConcurrency(tenant.users, SETUP_CONCURRENCY, async (user) => (await tenant.login(user)).access_token);
  return { label, bench, tenant, sessions };
}
import { Worker } from 'node:worker_threads';
const worker = new Worker(new URL('./ab-reads-load.mjs', import.meta.url));
const runCount = (baseUrl, workload, count) => new Promise((resolve) => { worker.once('message', resolve); worker.postMessage({ baseUrl, requests: workload.requests, concurrency: 32, count }); });
const COUNT = Number(process.env.AB_COUNT ?? 3000);
const t0 = Date.now();
const subjects = [await subject(rootA, 'A'), await subject(rootB, 'B')];
console.log(`set up in ${((Date.now() - t0) / 1000).toFixed(0)} s, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const workload = (s, c) => c === 'introspection'
  ? { kind: 'requests', requests: s.sessions.map((t) => ({ method: 'POST', path: s.tenant.introspectionPath, headers: { authorization: s.tenant.clientAuthorization, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: t }).toString() })) }
  : { kind: 'requests', requests: s.sessions.map((t) => ({ method: 'GET', path: s.tenant.userinfoPath, headers: { authorization: `Bearer ${t}` } })) };
const out = {};
for (let r = 0; r < +rounds; r++) {
  for (const c of cases.split(',')) {
    for (const s of r % 2 === 0 ? subjects : [...subjects].reverse()) {
      await runCount(s.bench.baseUrl, workload(s, c), 300);
      const before = ticks();
      const res = await runCount(s.bench.baseUrl, workload(s, c), COUNT);
      const cpu = (ticks() - before) / HZ;
      const us = (cpu * 1e6) / res.count;
      if (r > 0) (out[`${c} ${s.label}`] ??= []).push(us);
      console.log(`round ${r}${r === 0 ? ' (warm-up, not counted)' : ''} ${c} ${s.label}: ${res.count} req, ${(res.count / res.ms * 1000).toFixed(0)}/s, ${us.toFixed(0)} us CPU/req, errors ${res.errors} load ${os.loadavg()[0].toFixed(1)}`);
    }
  }
}
const med = (v) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
for (const c of cases.split(',')) {
  const a = med(out[`${c} A`]), b = med(out[`${c} B`]);
  console.log(`${c}: A median ${a.toFixed(0)} us/req, B median ${b.toFixed(0)} us/req, B/A ${(b / a).toFixed(3)}`);
}
for (const s of subjects) await s.bench.close();
process.exit(0);
