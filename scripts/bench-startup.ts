/**
 * Start-up benchmark (`npm run bench:startup`, and part of `npm run bench:history`):
 * does a start grow with the whole history, and does it stay alive meanwhile?
 *
 * For each size (default 100,000 and 1,000,000 events), a DATA_DIR is filled
 * with a realistic mix, then the service is started as a child process
 * (`node dist/src/main.js`) three times:
 *   1. reference: READ_MODEL_SNAPSHOTS=false, the whole log folded into memory;
 *   2. first start with snapshots on: no file yet, so the whole log again; once
 *      ready, one write moves the read models and a periodic save writes the
 *      snapshot (/healthz is polled meanwhile); then SIGTERM;
 *   3. with the snapshot: it is loaded, and only the events after it applied.
 * Measured: spawn to /readyz 200; resident memory after ready (VmRSS, and the
 * peak VmHWM, from /proc/<pid>/status); /healthz latency p50/p99/max, polled
 * every 20 ms from the first answer until ready (and during the save); the
 * events /readyz says were applied; the snapshot's size and save time.
 *
 * The mix: an organization made through the real API in-process (users with
 * passwords, groups, projects, a quota and allocations, a service account,
 * applications, a user's sign-in with refreshes, client-credentials tokens),
 * and activity of its users; its events are then copied with fresh ids and
 * names (one copy per organization) straight into the log through
 * SqliteEventStore, many appends to a transaction. The process managers'
 * checkpoints are put at the head, as in a running deployment, so the starts
 * measure the read models.
 *
 *   node dist/scripts/bench-startup.js [--sizes 100000,1000000] [--keep] [--skip-reference] [--reuse-snapshot]
 *
 * --keep keeps the filled DATA_DIRs (in the temp folder, by size) and reuses them next time.
 * --reuse-snapshot (with --keep): when a kept DATA_DIR already holds a snapshot, only the start with
 * it is measured (no reference, no first start), to iterate on the load; the snapshot is kept.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { READ_MODEL_SNAPSHOT_FILE } from '../src/infra/memory/read-model-snapshot.js';
import { SqliteCheckpointStore } from '../src/infra/sqlite/sqlite-checkpoint-store.js';
import { SqliteEventStore } from '../src/infra/sqlite/sqlite-event-store.js';
import type { NewEvent, RecordedEvent } from '../src/ports/event-store.js';
import { authorize, tokenRequest } from '../test/support/oidc.js';
import { startTestServer, type TestServer } from '../test/support/server.js';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
export const TOKEN = 'bench-startup-bootstrap-token-0123456789abcdef';
const MARKER = 'tplx';
/** The process managers (src/service.ts): their checkpoints go to the head of the filled log. */
const PROCESSES = ['provisioning', 'project-deletion', 'organization-deletion', 'group-removal', 'session-revocation'];
const POLL_MS = 20;
const FORMAT_VERSION = 1;

export interface Template {
  readonly events: Array<{ streamName: string; type: string; text: string }>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function ok(response: Response, what: string): Promise<any> {
  if (response.status >= 300) throw new Error(`${what}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** One organization with a bit of everything, made through the API of an in-process service; its events. */
export async function makeTemplate(): Promise<Template> {
  const server: TestServer = await startTestServer({ env: { READ_MODEL_SNAPSHOTS: 'false', LOG_LEVEL: 'warn' } });
  try {
    const before = await server.service.stores.events.headPosition();
    const post = (path: string, json: unknown) => server.api(path, { method: 'POST', json }).then((r) => ok(r, path));
    const org = await post('/api/v1/organizations', { metadata: { name: `org-${MARKER}` }, spec: { organizationType: 'adhoc' } });
    const base = `/api/v1/organizations/${org.metadata.id}`;
    const password = 'correct horse battery staple';
    const users: string[] = [];
    for (let i = 0; i < 10; i++) {
      const user = await post(`${base}/users`, {
        metadata: { name: `user-${i}-${MARKER}` },
        spec: { subject: `user${i}.${MARKER}@example.com`, state: 'active', groupIDs: [], ...(i === 0 && { password }) },
      });
      users.push(user.metadata.id);
    }
    const groups: string[] = [];
    for (let i = 0; i < 3; i++) {
      const group = await post(`${base}/groups`, {
        metadata: { name: `group-${i}-${MARKER}` },
        spec: { roleIDs: [['administrator', 'user', 'reader'][i]!], userIDs: users.slice(i * 3, i * 3 + 4), serviceAccountIDs: [] },
      });
      groups.push(group.metadata.id);
    }
    for (let i = 0; i < 3; i++) {
      const project = await post(`${base}/projects`, { metadata: { name: `project-${i}-${MARKER}` }, spec: { groupIDs: [groups[i]!] } });
      await post(`${base}/projects/${project.metadata.id}/allocations`, {
        metadata: { name: `allocation-${i}-${MARKER}` },
        spec: { kind: 'cluster', id: `cluster-${i}-${MARKER}`, allocations: [{ kind: 'servers', committed: 1, reserved: 0 }] },
      });
    }
    await post(`${base}/serviceaccounts`, { metadata: { name: `robot-${MARKER}` }, spec: {} });
    const redirectUri = 'http://127.0.0.1:9/callback';
    const app = await post(`${base}/applications`, {
      metadata: { name: `console-${MARKER}` },
      spec: { redirectURIs: [redirectUri], grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], public: false, groupIDs: [groups[1]!] },
    });
    const client = { clientId: app.metadata.id as string, secret: app.status.clientSecret as string };
    // Token traffic: a user's sign-in and its refreshes, and client-credentials tokens.
    const { code, verifier } = await authorize(server, { clientId: client.clientId, redirectUri, email: `user0.${MARKER}@example.com`, password });
    let tokens = await ok(await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }, client), 'code');
    for (let i = 0; i < 10; i++) {
      tokens = await ok(await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, client), 'refresh');
    }
    for (let i = 0; i < 10; i++) await ok(await tokenRequest(server, { grant_type: 'client_credentials' }, client), 'client_credentials');
    // Activity: about one event a minute per active user.
    for (const userId of users) {
      for (let minute = 0; minute < 3; minute++) {
        const at = new Date(Date.UTC(2026, 0, 1, 9, minute)).toISOString();
        await server.service.stores.events.appendToStream(
          `useractivity-${userId}`,
          [{ type: 'user.activity.recorded', data: { userId, organizationId: org.metadata.id, at }, metadata: { eventId: uuidv7(), occurredAt: at, actor: { subject: userId, kind: 'user' }, correlationId: uuidv7(), causationId: uuidv7(), schemaVersion: 1 } }],
          { expectedRevision: 'any' },
        );
      }
    }
    await server.service.projections.waitFor(await server.service.stores.events.headPosition(), 10_000);
    const events: RecordedEvent[] = [];
    let after = before;
    for (;;) {
      const page = await server.service.stores.events.readAll({ after, maxCount: 1000 });
      if (page.length === 0) break;
      events.push(...page);
      after = page[page.length - 1]!.position;
    }
    return { events: events.map((e) => ({ streamName: e.streamName, type: e.type, text: JSON.stringify({ s: e.streamName, d: e.data, m: e.metadata }) })) };
  } finally {
    await server.close();
  }
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** The template's events with fresh ids and names: another organization. */
export function copyOf(template: Template, copy: number): Array<{ streamName: string; event: NewEvent }> {
  const ids = new Map<string, string>();
  const fresh = (id: string) => {
    let mapped = ids.get(id);
    if (!mapped) ids.set(id, (mapped = uuidv4()));
    return mapped;
  };
  return template.events.map(({ type, text }) => {
    const parsed = JSON.parse(text.replace(UUID, fresh).replaceAll(MARKER, `c${copy}`)) as { s: string; d: unknown; m: NewEvent['metadata'] };
    return { streamName: parsed.s, event: { type, data: parsed.d, metadata: parsed.m } };
  });
}

/** A DATA_DIR holding at least `size` events of the mix (whole organizations); reused when kept from an earlier run. */
export async function filledDataDir(template: Template, size: number, keep: boolean, prefix = 'bench-startup'): Promise<{ dir: string; events: number; fillSeconds?: number }> {
  const dir = join(tmpdir(), `${prefix}-${size}-v${FORMAT_VERSION}`);
  const done = join(dir, 'filled.json');
  if (keep && existsSync(done)) return { dir, ...(JSON.parse(readFileSync(done, 'utf8')) as { events: number }) };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const startedAt = performance.now();
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  let written = 0;
  let copy = 0;
  while (written < size) {
    // Many appends issued in one turn go to the log in one transaction.
    const appends: Promise<unknown>[] = [];
    for (let batch = 0; batch < 20_000 && written < size; copy++) {
      for (const { streamName, event } of copyOf(template, copy)) {
        appends.push(store.appendToStream(streamName, [event], { expectedRevision: 'any' }));
        batch++;
        written++;
      }
    }
    await Promise.all(appends);
    if (copy % 200 < 150) process.stderr.write(`\r  filling ${size.toLocaleString('en')}: ${written.toLocaleString('en')} events`);
  }
  const head = await store.headPosition();
  await store.close();
  const checkpoints = new SqliteCheckpointStore(join(dir, 'events.sqlite'));
  for (const name of PROCESSES) await checkpoints.save(name, head!);
  await checkpoints.close();
  const fillSeconds = (performance.now() - startedAt) / 1000;
  process.stderr.write(`\r  filled ${size.toLocaleString('en')}: ${written.toLocaleString('en')} events (${copy} organizations) in ${fillSeconds.toFixed(0)} s\n`);
  writeFileSync(done, JSON.stringify({ events: written }));
  return { dir, events: written, fillSeconds };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const kib = (status: string, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);

interface Latencies {
  p50: number;
  p99: number;
  max: number;
  count: number;
}

function summarize(samples: number[]): Latencies {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN, count: sorted.length };
}

/** Poll /healthz every POLL_MS until `until` says stop; the latencies of the answers. */
async function pollHealth(baseUrl: string, until: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  while (!until()) {
    const started = performance.now();
    try {
      const response = await fetch(`${baseUrl}/healthz`);
      await response.arrayBuffer();
      if (response.status === 200) latencies.push(performance.now() - started);
    } catch {
      // Not listening yet.
    }
    await sleep(POLL_MS);
  }
  return latencies;
}

export interface StartRun {
  readySeconds: number;
  listeningSeconds: number;
  rssMiB: number;
  peakRssMiB: number;
  health: Latencies;
  replayedEvents: number;
  restored: boolean;
  child: ChildProcess;
  baseUrl: string;
  logs: string[];
}

/** Spawn the service, wait for /readyz 200 while polling /healthz; leaves it running. `nodeArgs`: flags for node itself (such as --cpu-prof, which NODE_OPTIONS refuses). */
export async function startChild(dir: string, env: Record<string, string>, nodeArgs: readonly string[] = []): Promise<StartRun> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const logs: string[] = [];
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, MAIN], {
    env: { ...process.env, PORT: String(port), DATA_DIR: dir, ISSUER: baseUrl, IDENTITY_BOOTSTRAP_TOKEN: TOKEN, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (buffered + chunk.toString('utf8')).split('\n');
    buffered = lines.pop()!;
    logs.push(...lines.filter((line) => !line.includes('"req"')));
  });
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  let exited = false;
  child.once('exit', () => (exited = true));
  let ready: { replayedEvents?: number; snapshot?: { restored: boolean } } | undefined;
  let listeningAt: number | undefined;
  const readiness = (async () => {
    while (!ready && !exited) {
      try {
        const response = await fetch(`${baseUrl}/readyz`);
        listeningAt ??= performance.now();
        const body = (await response.json()) as typeof ready;
        if (response.status === 200) ready = body;
      } catch {
        // Not listening yet.
      }
      if (!ready) await sleep(50);
    }
  })();
  const latencies = await pollHealth(baseUrl, () => ready !== undefined || exited);
  await readiness;
  if (!ready) throw new Error(`the service exited before it was ready:\n${logs.slice(-5).join('\n')}`);
  const readySeconds = (performance.now() - spawnedAt) / 1000;
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return {
    readySeconds,
    listeningSeconds: ((listeningAt ?? performance.now()) - spawnedAt) / 1000,
    rssMiB: kib(status, 'VmRSS') / 1024,
    peakRssMiB: kib(status, 'VmHWM') / 1024,
    health: summarize(latencies),
    replayedEvents: ready.replayedEvents ?? NaN,
    restored: ready.snapshot?.restored ?? false,
    child,
    baseUrl,
    logs,
  };
}

/** SIGTERM (a graceful stop: with snapshots on, the last save); the seconds until the process ended. */
export async function stopChild(run: StartRun): Promise<number> {
  const startedAt = performance.now();
  const exited = new Promise((resolve) => run.child.once('exit', resolve));
  run.child.kill('SIGTERM');
  await exited;
  return (performance.now() - startedAt) / 1000;
}

const loggedMs = (logs: string[], message: string): number | undefined => {
  const line = [...logs].reverse().find((l) => l.includes(message));
  return line === undefined ? undefined : (JSON.parse(line) as { ms?: number }).ms;
};

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : 'n/a');

export async function startupBench(sizes: number[], options: { keep?: boolean; skipReference?: boolean; reuseSnapshot?: boolean } = {}): Promise<void> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: npm run build first`);
  process.stderr.write('making the template organization through the API...\n');
  const template = await makeTemplate();
  const types = new Map<string, number>();
  for (const e of template.events) types.set(e.type, (types.get(e.type) ?? 0) + 1);
  const rows: string[] = [];
  const saveRows: string[] = [];
  for (const size of sizes) {
    const filled = await filledDataDir(template, size, options.keep ?? false);
    const snapshotFile = join(filled.dir, READ_MODEL_SNAPSHOT_FILE);
    if (options.keep && options.reuseSnapshot && existsSync(snapshotFile)) {
      process.stderr.write(`  ${size}: start with the kept snapshot...\n`);
      const restored = await startChild(filled.dir, {});
      const loadMs = loggedMs(restored.logs, 'read models loaded from their snapshot') ?? NaN;
      await stopChild(restored);
      rows.push(
        `| ${int(filled.events)} | with snapshot (kept) | ${f2(restored.readySeconds)} | ${f2(restored.listeningSeconds)} | ${int(restored.replayedEvents)}${restored.restored ? ' (restored)' : ''} | ${int(restored.rssMiB)} | ${int(restored.peakRssMiB)} | ${f1(restored.health.p50)} / ${f1(restored.health.p99)} / ${f1(restored.health.max)} (${restored.health.count}) |`,
      );
      saveRows.push(`| ${int(filled.events)} | ${f1(statSync(snapshotFile).size / 1024 / 1024)} | n/a | n/a | n/a | ${int(loadMs)} |`);
      continue;
    }
    rmSync(snapshotFile, { force: true });
    try {
      process.stderr.write(`  ${size}: start without snapshots (reference)...\n`);
      const reference = options.skipReference ? undefined : await startChild(filled.dir, { READ_MODEL_SNAPSHOTS: 'false' });
      if (reference) await stopChild(reference);

      process.stderr.write(`  ${size}: first start with snapshots (no file yet), one write, a periodic save...\n`);
      const first = await startChild(filled.dir, { READ_MODEL_SNAPSHOT_SECONDS: '2' });
      let saved = false;
      const savedAtReady = ((await (await fetch(`${first.baseUrl}/readyz`)).json()) as { snapshot?: { savedPosition?: string } }).snapshot?.savedPosition;
      const during = pollHealth(first.baseUrl, () => saved);
      const write = await fetch(`${first.baseUrl}/api/v1/organizations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ metadata: { name: `after-${Date.now()}` }, spec: { organizationType: 'adhoc' } }),
      });
      await write.arrayBuffer();
      for (let waited = 0; !saved && waited < 600_000; waited += 100) {
        const body = (await (await fetch(`${first.baseUrl}/readyz`)).json()) as { snapshot?: { savedPosition?: string } };
        saved = body.snapshot?.savedPosition !== savedAtReady;
        if (!saved) await sleep(100);
      }
      const duringSave = summarize(await during);
      const saveMs = loggedMs(first.logs, 'read-model snapshot saved') ?? NaN;
      const shutdownSeconds = await stopChild(first);
      const snapshotMiB = statSync(join(filled.dir, READ_MODEL_SNAPSHOT_FILE)).size / 1024 / 1024;

      process.stderr.write(`  ${size}: start with the snapshot...\n`);
      const restored = await startChild(filled.dir, {});
      const loadMs = loggedMs(restored.logs, 'read models loaded from their snapshot') ?? NaN;
      await stopChild(restored);

      const events = filled.events;
      for (const [label, run] of [
        ['without snapshot (reference)', reference],
        ['with snapshots on, no file yet', first],
        ['with snapshot', restored],
      ] as const) {
        if (!run) continue;
        rows.push(
          `| ${int(events)} | ${label} | ${f2(run.readySeconds)} | ${f2(run.listeningSeconds)} | ${int(run.replayedEvents)}${run.restored ? ' (restored)' : ''} | ${int(run.rssMiB)} | ${int(run.peakRssMiB)} | ${f1(run.health.p50)} / ${f1(run.health.p99)} / ${f1(run.health.max)} (${run.health.count}) |`,
        );
      }
      saveRows.push(`| ${int(events)} | ${f1(snapshotMiB)} | ${int(saveMs)} | ${f1(duringSave.p50)} / ${f1(duringSave.p99)} / ${f1(duringSave.max)} (${duringSave.count}) | ${f2(shutdownSeconds)} | ${int(loadMs)} |`);
    } finally {
      if (!options.keep) rmSync(filled.dir, { recursive: true, force: true });
    }
  }
  console.log(`\n### Start-up: time to ready and memory, with and without a read-model snapshot\n`);
  console.log(`The mix, per organization (${template.events.length} events): ${[...types].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${n}`).join(', ')}.\n`);
  console.log('| events | start | spawn to ready (s) | spawn to listening (s) | events applied | RSS after ready (MiB) | peak RSS (MiB) | /healthz p50 / p99 / max ms (samples) until ready |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const row of rows) console.log(row);
  console.log('\n| events | snapshot file (MiB, gzip) | periodic save (ms) | /healthz p50 / p99 / max ms (samples) during the write and the save | SIGTERM to exit (s) | snapshot load (ms) |');
  console.log('| ---: | ---: | ---: | --- | ---: | ---: |');
  for (const row of saveRows) console.log(row);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizesArg = process.argv.indexOf('--sizes');
  const sizes = sizesArg >= 0 ? process.argv[sizesArg + 1]!.split(',').map(Number) : [100_000, 1_000_000];
  const flags = { keep: process.argv.includes('--keep'), skipReference: process.argv.includes('--skip-reference'), reuseSnapshot: process.argv.includes('--reuse-snapshot') };
  startupBench(sizes, flags).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
