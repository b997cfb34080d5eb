/**
 * History benchmark (`npm run bench:history`): do command costs grow with a
 * stream's history?
 *
 * Part 1, in-process (SQLite event store and snapshot store in a temp
 * DATA_DIR, the command pipeline called directly): for a resource ledger, a
 * group and a user stream with 10, 1,000, 10,000 and 100,000 prior events,
 * the latency of one command:
 *   - warm: the state is cached in memory (p50 of 20 commands), and the same
 *     decided but not appended (what the history costs, without the fsync);
 *   - from snapshot: a fresh cache (as after a restart), loading the newest
 *     snapshot and the events after it;
 *   - first load: no snapshot yet, the whole stream folded in pages (this load
 *     saves the first snapshot);
 *   - reference: the same command with the decider stripped of its snapshot
 *     policy (no snapshot, no cache, no opening event): the whole stream read
 *     and folded, in pages (p50 of 3 to 10).
 * The prior events are written straight to the log in batches: a ledger's are
 * allocations created (so its state holds N live allocations), a group's are
 * members added one at a time (group.user.added: a group of N members), a
 * user's are whole-state updates (activity has its own stream since
 * useractivity-<id>; before, it was the bulk of a user stream).
 *
 * Part 2, over HTTP: the service on 127.0.0.1, an organization whose ledger
 * holds 100,000 allocations, and a worker thread polling GET /healthz every
 * 5 ms while (a) the service folds the ledger synchronously in one go, as the
 * pipeline did before (the reference), and (b) POST .../allocations runs on a
 * cold cache (paged fold, then a snapshot). /healthz latencies: p50, p99, max.
 *
 * Part 1b: a group whose members are added one at a time, each by a PUT of
 * the whole list (the issue's scenario): the stream's bytes and a whole fold.
 *
 *   node dist/scripts/bench-history.js [--sizes 10,1000,10000,100000] [--only ledger|group|user] [--skip-streams] [--skip-group-growth] [--skip-http]
 */
import { retentionBench } from './bench-retention.js';
import { startupBench } from './bench-startup.js';
import type { Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { v4 as uuidv4 } from 'uuid';
import { handleCommand, loadState, type PipelineDecider, toNewEvent } from '../src/commands/pipeline.js';
import { StreamStates } from '../src/commands/stream-states.js';
import { loadConfig } from '../src/config.js';
import { addGroupMember, createGroup, groupDecider, updateGroup } from '../src/domain/group/decider.js';
import { groupStream } from '../src/domain/group/events.js';
import { createAllocation, type QuotaKind, resourceLedgerDecider } from '../src/domain/resource-ledger/decider.js';
import { resourceLedgerStream } from '../src/domain/resource-ledger/events.js';
import type { CommandMetadata, DomainEvent } from '../src/domain/shared/decider.js';
import { updateUser, userDecider } from '../src/domain/user/decider.js';
import { userStream } from '../src/domain/user/events.js';
import { createLogger } from '../src/infra/logger.js';
import { SqliteEventStore } from '../src/infra/sqlite/sqlite-event-store.js';
import { SqliteSnapshotStore } from '../src/infra/sqlite/sqlite-snapshot-store.js';
import type { EventStore } from '../src/ports/event-store.js';
import { startService } from '../src/service.js';

const TOKEN = 'bench-history-bootstrap-token-0123456789abcdef';
const SNAPSHOT_EVERY = 1000;
const WARM_RUNS = 20;
const BATCH = 5000;
const meta: CommandMetadata = { now: new Date(), actor: { subject: 'bench', kind: 'system' }, correlationId: 'bench', causationId: 'bench' };
const kinds: QuotaKind[] = [{ kind: 'servers', displayName: 'Servers', description: 'Servers.', default: 1_000_000_000 }];

const ms = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(0));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;

async function append(events: EventStore, stream: string, count: number, make: (i: number) => DomainEvent): Promise<void> {
  for (let start = 0; start < count; start += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, count - start) }, (_, i) => toNewEvent(make(start + i), meta));
    await events.appendToStream(stream, batch, { expectedRevision: 'any' });
  }
}

interface Case {
  readonly name: string;
  /** Write `count` prior events; answer the stream and a command to run on it (n: a fresh number each time). */
  prepare(events: EventStore, count: number): Promise<{ stream: string; decider: PipelineDecider<any, any>; decide: (n: number) => (state: any) => DomainEvent[] }>;
}

const organizationId = 'bench-org';
const spec = (n: number, servers = 1) => ({ kind: 'cluster', id: `c-${n}`, allocations: [{ kind: 'servers', committed: servers, reserved: 0 }] });

const cases: Case[] = [
  {
    name: 'ledger (allocation create)',
    async prepare(events, count) {
      const stream = resourceLedgerStream(uuidv4());
      await append(events, stream, count, (i) => ({
        type: 'allocation.created',
        data: { organizationId, projectId: `p-${i % 10}`, allocationId: uuidv4(), name: `a-${i}`, tags: [], spec: spec(i) },
      }));
      return {
        stream,
        decider: resourceLedgerDecider,
        decide: (n) => (state) => createAllocation(state, { organizationId, projectId: 'p-0', allocationId: uuidv4(), name: `new-${n}`, tags: [], spec: spec(n) }, kinds),
      };
    },
  },
  {
    // The issue's scenario: members added one at a time. Each prior event is one group.user.added (created first).
    name: 'group (member added)',
    async prepare(events, count) {
      const groupId = uuidv4();
      const scope = { groupId, organizationId };
      const member = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      await append(events, groupStream(groupId), count, (i) =>
        i === 0 ? { type: 'group.created', data: { ...scope, name: 'team', tags: [] } } : { type: 'group.user.added', data: { ...scope, userId: member(i) } },
      );
      return {
        stream: groupStream(groupId),
        decider: groupDecider,
        decide: (n) => (state) => addGroupMember(state, { ...scope, member: { kind: 'user', id: `new-${n}` } }),
      };
    },
  },
  {
    // The same command on a group of about 20 members whose history is N members joining and leaving.
    name: 'group (churn, 20 members)',
    async prepare(events, count) {
      const groupId = uuidv4();
      const scope = { groupId, organizationId };
      await append(events, groupStream(groupId), count, (i) =>
        i === 0
          ? { type: 'group.created', data: { ...scope, name: 'team', tags: [] } }
          : { type: i % 2 === 1 || i < 20 ? 'group.user.added' : 'group.user.removed', data: { ...scope, userId: `u-${i < 20 ? i : i % 2 === 1 ? i : i - 1}` } },
      );
      return {
        stream: groupStream(groupId),
        decider: groupDecider,
        decide: (n) => (state) => addGroupMember(state, { ...scope, member: { kind: 'user', id: `new-${n}` } }),
      };
    },
  },
  {
    name: 'user (update)',
    async prepare(events, count) {
      const userId = uuidv4();
      const details = (n: number) => ({ userId, organizationId, name: 'someone', description: `d-${n}`, tags: [], subject: `${userId}@example.com`, state: 'active' as const });
      await append(events, userStream(userId), count, (i) =>
        i === 0 ? { type: 'user.created', data: details(0) } : { type: 'user.updated', data: details(i) },
      );
      return { stream: userStream(userId), decider: userDecider, decide: (n) => (state) => updateUser(state, details(1e9 + n)) };
    },
  },
];

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

async function inProcess(sizes: readonly number[], only?: string): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-history-'));
  const file = join(dataDir, 'events.sqlite');
  const events = new SqliteEventStore(file);
  const snapshots = new SqliteSnapshotStore(file);
  const newStates = () => new StreamStates(snapshots, { every: SNAPSHOT_EVERY, cachedStreams: 1000 });
  let n = 0;
  console.log(`\n## One command on a stream with N prior events (in-process, SNAPSHOT_EVERY=${SNAPSHOT_EVERY}; ms)\n`);
  console.log('| stream | N | warm p50 | warm, decided but not appended, p50 | from snapshot | first load | reference (no snapshot, no cache) p50 | warm p50, largest N / smallest |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  try {
    for (const kase of cases.filter((kase) => only === undefined || kase.name.startsWith(only))) {
      const warmBySize = new Map<number, number>();
      for (const size of sizes) {
        const { stream, decider, decide } = await kase.prepare(events, size);
        const run = (states: StreamStates | undefined) =>
          handleCommand(events, stream, decider, decide(n++), meta, { maxAttempts: 100, ...(states && { states }) });
        // The reference: the same decider without its snapshot policy, so the whole stream is read and folded (in pages).
        const plain = { initialState: decider.initialState, evolve: decider.evolve };
        const runWithout = () => handleCommand(events, stream, plain, decide(n++), meta, { maxAttempts: 100 });
        // The same command decided but not appended: what the history costs, without the fsync.
        const dryRun = (states: StreamStates) =>
          handleCommand(events, stream, decider, (state) => (decide(n++)(state), []), meta, { states });
        const firstStates = newStates();
        const first = await timed(() => run(firstStates));
        // The first snapshot is written in the background: let it land before loading from it.
        await firstStates.settled();
        const fromSnapshot = await timed(() => run(newStates()));
        const states = newStates();
        await run(states);
        const warm: number[] = [];
        for (let i = 0; i < WARM_RUNS; i++) warm.push(await timed(() => run(states)));
        const dry: number[] = [];
        for (let i = 0; i < WARM_RUNS; i++) dry.push(await timed(() => dryRun(states)));
        const referenceRuns = size >= 100_000 ? 3 : 10;
        const reference: number[] = [];
        for (let i = 0; i < referenceRuns; i++) reference.push(await timed(() => runWithout()));
        warmBySize.set(size, median(warm));
        const ratio = size === sizes.at(-1) && warmBySize.has(sizes[0]!) ? `${(median(warm) / warmBySize.get(sizes[0]!)!).toFixed(2)}×` : '';
        console.log(`| ${kase.name} | ${size.toLocaleString('en')} | ${ms(median(warm))} | ${ms(median(dry))} | ${ms(fromSnapshot)} | ${ms(first)} | ${ms(median(reference))} | ${ratio} |`);
      }
    }
  } finally {
    await snapshots.close();
    await events.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A worker thread polling /healthz every 5 ms until told to stop; posts back the latencies. */
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
let running = true;
parentPort.on('message', () => { running = false; });
let errors = 0;
const poll = async () => {
  const start = performance.now();
  try {
    const response = await fetch(workerData.url);
    await response.text();
  } catch {
    // A keep-alive socket closed by the server as it was reused: counted, and the time still spent.
    errors++;
  }
  return performance.now() - start;
};
(async () => {
  for (let i = 0; i < 20; i++) await poll();
  parentPort.postMessage('ready');
  const latencies = [];
  while (running) {
    latencies.push(await poll());
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  parentPort.postMessage({ latencies, errors });
})();
`;

async function healthDuring(url: string, run: () => Promise<unknown>): Promise<{ duration: number; latencies: number[]; errors: number }> {
  const worker = new Worker(POLLER, { eval: true, workerData: { url } });
  await new Promise((resolve) => worker.once('message', resolve));
  const duration = await timed(run);
  const { latencies, errors } = await new Promise<{ latencies: number[]; errors: number }>((resolve) => {
    worker.once('message', resolve);
    worker.postMessage('stop');
  });
  await worker.terminate();
  return { duration, latencies, errors };
}

async function overHttp(prior: number): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-history-http-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const config = loadConfig({ PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, DATA_DIR: dataDir, LOG_LEVEL: 'error', IDENTITY_BOOTSTRAP_TOKEN: TOKEN });
  const service = await startService(config, createLogger('error'));
  const server: Server = await new Promise((resolve) => {
    const s = service.app.listen(port, '127.0.0.1', () => resolve(s));
  });
  const api = async (path: string, method = 'GET', body?: unknown) =>
    fetch(`${config.ISSUER}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body !== undefined && { body: JSON.stringify(body) }) });
  try {
    const org = ((await (await api('/api/v1/organizations', 'POST', { metadata: { name: 'bench-history' }, spec: { organizationType: 'adhoc' } })).json()) as any).metadata.id as string;
    const project = ((await (await api(`/api/v1/organizations/${org}/projects`, 'POST', { metadata: { name: 'main' }, spec: { groupIDs: [] } })).json()) as any).metadata.id as string;
    const stream = resourceLedgerStream(org);
    await append(service.stores.events, stream, prior, (i) => ({
      type: 'allocation.created',
      data: { organizationId: org, projectId: project, allocationId: uuidv4(), name: `a-${i}`, tags: [], spec: spec(i, 0) },
    }));
    const head = await service.stores.events.headPosition();
    await service.projections.waitFor(head, 600_000);
    const url = `${config.ISSUER}/healthz`;

    // The reference: the whole stream read and folded in one go, as the pipeline did before.
    const reference = await healthDuring(url, async () => {
      const history = await service.stores.events.readStream(stream);
      history.reduce((state, event) => resourceLedgerDecider.evolve(state, event as any), resourceLedgerDecider.initialState());
    });
    // The command itself, on a cold cache: a paged fold, then the first snapshot.
    let status = 0;
    let answer = '';
    const paged = await healthDuring(url, async () => {
      const response = await api(`/api/v1/organizations/${org}/projects/${project}/allocations`, 'POST', { metadata: { name: 'the-new-one' }, spec: spec(-1, 0) });
      status = response.status;
      answer = await response.text();
    });
    if (status !== 201) throw new Error(`POST allocation answered ${status}: ${answer}`);
    const warm = await healthDuring(url, async () => {
      const response = await api(`/api/v1/organizations/${org}/projects/${project}/allocations`, 'POST', { metadata: { name: 'another-one' }, spec: spec(-2, 0) });
      await response.text();
    });

    console.log(`\n## /healthz while a command runs on a ledger of ${prior.toLocaleString('en')} allocations (HTTP; ms)\n`);
    console.log('| what runs | its duration | /healthz p50 | p99 | max | polls (failed) |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const [name, r] of [
      ['reference: whole stream read and folded synchronously (the old pipeline)', reference],
      ['POST allocation, cold cache (paged fold + first snapshot)', paged],
      ['POST allocation, warm cache', warm],
    ] as const) {
      console.log(`| ${name} | ${ms(r.duration)} | ${ms(median(r.latencies))} | ${ms(percentile(r.latencies, 99))} | ${ms(Math.max(...r.latencies))} | ${r.latencies.length} (${r.errors}) |`);
    }
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await service.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The issue's scenario end to end: a group to which members are added one at
 * a time, each time as the API does it (updateGroup with the whole list, the
 * decider appending the difference). The stream's size in bytes (the JSON of
 * every event's data and metadata) and a whole fold of it (no snapshot, no
 * cache), at each size. Before per-member events this was 168 MiB and 2 to
 * 2.7 s at 3,000 members.
 */
async function groupGrowth(memberCounts: readonly number[]): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-history-group-'));
  const events = new SqliteEventStore(join(dataDir, 'events.sqlite'));
  console.log('\n## A group whose members are added one at a time, each by a PUT of the whole list\n');
  console.log('| members | events | stream bytes | largest event bytes | bytes per member | whole fold (no snapshot, no cache), ms |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  try {
    for (const members of memberCounts) {
      const groupId = uuidv4();
      const scope = { groupId, organizationId };
      const ids: string[] = [];
      const command = () => ({ ...scope, name: 'team', tags: [], roleIDs: ['reader'], userIDs: ids, serviceAccountIDs: [] });
      let state = groupDecider.initialState();
      const written: DomainEvent[] = [];
      const apply = (decided: DomainEvent[]) => {
        for (const event of decided) state = groupDecider.evolve(state, event as never);
        written.push(...decided);
      };
      apply(createGroup(state, command()));
      for (let i = 0; i < members; i++) {
        ids.push(uuidv4());
        apply(updateGroup(state, command()));
      }
      await append(events, groupStream(groupId), written.length, (i) => written[i]!);
      const stored = await events.readStream(groupStream(groupId));
      const sizes = stored.map((event) => JSON.stringify({ type: event.type, data: event.data, metadata: event.metadata }).length);
      const total = sizes.reduce((a, b) => a + b, 0);
      const plain = { initialState: groupDecider.initialState, evolve: groupDecider.evolve };
      const folds: number[] = [];
      for (let run = 0; run < 3; run++) folds.push(await timed(() => loadState(events, groupStream(groupId), plain)));
      const fold = median(folds);
      console.log(`| ${members.toLocaleString('en')} | ${stored.length.toLocaleString('en')} | ${total.toLocaleString('en')} | ${Math.max(...sizes)} | ${Math.round(total / members)} | ${ms(fold)} |`);
    }
  } finally {
    await events.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sizesArg = args.indexOf('--sizes');
  const sizes = sizesArg >= 0 ? args[sizesArg + 1]!.split(',').map(Number) : [10, 1_000, 10_000, 100_000];
  if (sizes.some((size) => !Number.isInteger(size) || size < 1)) throw new Error('--sizes: positive integers, comma-separated');
  const onlyArg = args.indexOf('--only');
  if (!args.includes('--skip-streams')) await inProcess(sizes, onlyArg >= 0 ? args[onlyArg + 1] : undefined);
  if (!args.includes('--skip-group-growth')) await groupGrowth([300, 3_000, 10_000]);
  if (!args.includes('--skip-http')) await overHttp(sizes.at(-1)!);
  // Start-up with and without a read-model snapshot (scripts/bench-startup.ts), and the log's growth per refresh before and after retention (scripts/bench-retention.ts).
  const startupArg = args.indexOf('--startup-sizes');
  if (!args.includes('--skip-startup')) await startupBench(startupArg >= 0 ? args[startupArg + 1]!.split(',').map(Number) : [100_000, 1_000_000]);
  const refreshArg = args.indexOf('--refreshes');
  if (!args.includes('--skip-retention')) await retentionBench(refreshArg >= 0 ? Number(args[refreshArg + 1]) : 100_000);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
