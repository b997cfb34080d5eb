// CPU time per token request, two builds A/B alternated (issue 16, round 4). Resists a loaded machine better
// than requests/s: each build runs in its own process and is charged the CPU its process used (all threads,
// read from /proc) per answered request, while a driver process (this one) sends the load.
//
//   node scripts/ab-grants.mjs <rootA> <rootB> <refresh_token|client_credentials> [rounds=6] [requests=3000] [lanes=16]
//
// A root is a folder with a built dist/ and node_modules (a copy of this worktree's dist/, with a symlink to
// node_modules and package.json beside it). Linux only (/proc). Each process makes `lanes` users with passwords
// (scrypt: about a second each) and one confidential client, as `npm run bench:tokens` does.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

const HZ = 100; // clock ticks of /proc/<pid>/stat (getconf CLK_TCK)

if (process.argv[2] === '--server') {
  const [, , , root, users] = process.argv;
  const { startBenchService } = await import(`${root}/dist/scripts/bench/service.js`);
  const { setUpTenant, SETUP_CONCURRENCY } = await import(`${root}/dist/scripts/bench/our-provider.js`);
  const { mapWithConcurrency } = await import(`${root}/dist/scripts/bench/load.js`);
  const bench = await startBenchService({ name: 'ab-grants', logLevel: 'info', env: { THROTTLE_TOKEN_REQUESTS_PER_MINUTE: '1000000' } });
  const tenant = await setUpTenant(bench, Number(users));
  const sessions = await mapWithConcurrency(tenant.users, SETUP_CONCURRENCY, async (user) => (await tenant.login(user)).refresh_token);
  console.log(JSON.stringify({ pid: process.pid, baseUrl: bench.baseUrl, tokenPath: tenant.tokenPath, clientAuthorization: tenant.clientAuthorization, refreshTokens: sessions }));
  process.on('SIGTERM', async () => {
    await bench.close();
    process.exit(0);
  });
} else {
  const [rootA, rootB, grant, rounds = '6', perWindow = '3000', lanes = '16'] = process.argv.slice(2);
  if (!rootA || !rootB || !['refresh_token', 'client_credentials'].includes(grant)) {
    console.error('usage: node scripts/ab-grants.mjs <rootA> <rootB> <refresh_token|client_credentials> [rounds] [requests] [lanes]');
    process.exit(2);
  }
  const roots = { A: resolve(rootA), B: resolve(rootB) };
  const { runLoad } = await import(`${roots.A}/dist/scripts/bench/load.js`);
  /** CPU seconds of each thread of a process: the main thread, and the others (thread pool, workers, GC) together. */
  const cpu = (pid) => {
    let main = 0;
    let others = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
        const seconds = (Number(fields[11]) + Number(fields[12])) / HZ;
        if (tid === String(pid)) main += seconds;
        else others += seconds;
      } catch {
        // a thread that ended meanwhile
      }
    }
    return { main, others };
  };
  const start = (root) =>
    new Promise((done, fail) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--server', root, lanes], { stdio: ['ignore', 'pipe', 'inherit'] });
      createInterface({ input: child.stdout }).once('line', (line) => done({ child, ...JSON.parse(line) }));
      child.once('exit', (code) => fail(new Error(`the server of ${root} exited with ${code}`)));
    });
  const servers = { A: await start(roots.A), B: await start(roots.B) };
  const window = async (server, requests) => {
    const workload =
      grant === 'refresh_token'
        ? { kind: 'refresh', path: server.tokenPath, headers: { authorization: server.clientAuthorization }, params: {}, refreshTokens: server.refreshTokens }
        : { kind: 'requests', requests: [{ method: 'POST', path: server.tokenPath, headers: { authorization: server.clientAuthorization, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' }] };
    const before = cpu(server.pid);
    const result = await runLoad({ baseUrl: server.baseUrl, workload, concurrency: Number(lanes), warmupRequests: 0, warmupSeconds: 0, maxRequests: requests, seconds: 120, expectStatus: 200 });
    const after = cpu(server.pid);
    if (result.refreshTokens) server.refreshTokens = result.refreshTokens;
    const n = result.count + result.errors;
    return { total: ((after.main + after.others - before.main - before.others) * 1e6) / n, main: ((after.main - before.main) * 1e6) / n, rate: result.rate, errors: result.errors };
  };
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const out = { A: [], B: [] };
  for (const key of ['A', 'B']) await window(servers[key], 1000); // warm-up
  for (let round = 0; round < Number(rounds); round++) {
    for (const key of round % 2 ? ['B', 'A'] : ['A', 'B']) out[key].push(await window(servers[key], Number(perWindow)));
  }
  for (const key of ['A', 'B']) {
    const rows = out[key];
    console.log(
      `${key} ${grant}: CPU µs/request ${rows.map((r) => r.total.toFixed(0)).join(' ')} (median ${median(rows.map((r) => r.total)).toFixed(0)}), ` +
        `main thread ${median(rows.map((r) => r.main)).toFixed(0)}; requests/s ${rows.map((r) => r.rate.toFixed(0)).join(' ')}; errors ${rows.reduce((n, r) => n + r.errors, 0)}`,
    );
  }
  console.log(`B/A, median of the rounds: CPU per request ${median(out.A.map((a, i) => out.B[i].total / a.total)).toFixed(3)}, main thread ${median(out.A.map((a, i) => out.B[i].main / a.main)).toFixed(3)}`);
  for (const server of Object.values(servers)) server.child.kill('SIGTERM');
}
