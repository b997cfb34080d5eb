/**
 * Ledger benchmark (`npm run bench:ledger`): what the verifiable log costs (issue 12).
 *
 * (a) Append rate through the ordinary store (SqliteEventStore, durable
 *     commits, single-event appends of users' events with personal fields from
 *     1 and 64 writers) with the ledger on (LedgerBuilder tailing the store
 *     into a SqliteMerkleTree in its worker thread, as the service runs it),
 *     with the ledger on and crypto-shredding on (EvolvingEventStore with the
 *     PersonalDataCipher, as src/service.ts opens the stores), and with the
 *     tree built on the main thread (as before the worker), beside the same
 *     load with both off: same run, alternating rounds, the median of each.
 *     Two references: the raw adapter, and the service's store without the
 *     cipher (EvolvingEventStore, which the service always wraps its store
 *     in), so the encryption is charged only what it costs. Each case also
 *     gives the process's CPU time per append (every thread), which load
 *     inflates less than rates.
 *     "Until in the tree" counts until the tree holds every event (appends
 *     plus the builder's catch-up).
 * (b) Proof generation at --size leaves: a tree built straight into a temp
 *     SQLite file through SqliteMerkleTree (batches of 2,000, as the builder),
 *     then the p50/p99 of inclusion proofs (random leaf, whole tree) and of
 *     consistency proofs (random older size to the whole tree); and the same
 *     two endpoints over HTTP on an in-process service whose ledger file is
 *     that tree (--skip-http to leave out).
 * (c) The offline verifier over a data directory of --size events (the mix of
 *     bench:startup; its tree built by the LedgerBuilder, which is timed as a
 *     catch-up) beside a plain SHA-256 of the same rows read the same way; and
 *     the export verifier over an NDJSON export of it (written with
 *     exportLineOf) beside a plain SHA-256 of each line of the same file.
 * (k) Batches of persons' keys: how long each holds the event loop, written on
 *     the key maker's thread beside the same batch written on the event loop.
 *
 *   node dist/scripts/bench-ledger.js [--size 1000000] [--append-seconds 3] [--rounds 3] [--keep] [--skip-http] [--no-encryption] [--parts abck] [--workload users,mix,mix-admin]
 *
 * --keep keeps the filled data directory (in the temp folder) and reuses it next time.
 */
import Database from 'better-sqlite3';
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { v7 as uuidv7 } from 'uuid';
import { eventIdV7 } from '../src/commands/pipeline.js';
import canonicalize from 'canonicalize';
import { eventLeafHash } from '../src/domain/ledger/leaf.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../src/domain/ledger/merkle.js';
import { exportLineOf } from '../src/infra/ledger/export-line.js';
import { PERSONAL_DATA } from '../src/domain/personal-data/map.js';
import { KEYED_ID_BATCH } from '../src/infra/crypto/keyed-id-pool.js';
import { eventReader } from '../src/domain/upcasting.js';
import { PersonKeys } from '../src/infra/crypto/person-keys.js';
import { forEachPersonToSeal, PersonalDataCipher } from '../src/infra/events/encrypting-event-store.js';
import { EvolvingEventStore } from '../src/infra/events/evolving-event-store.js';
import { UnreadableEvents } from '../src/infra/events/unreadable-events.js';
import { LedgerBuilder } from '../src/infra/ledger/ledger-builder.js';
import { SqliteMerkleTree } from '../src/infra/ledger/sqlite-merkle-tree.js';
import { type KeptTreeHead, verifyDataDirectory, verifyExport } from '../src/infra/ledger/verifier.js';
import { createLogger } from '../src/infra/logger.js';
import { SecretSealer } from '../src/infra/secrets/sealer.js';
import { SqliteEventStore } from '../src/infra/sqlite/sqlite-event-store.js';
import { type EventStore, type NewEvent, positionToString, type RecordedEvent } from '../src/ports/event-store.js';
import { startTestServer } from '../test/support/server.js';
import { copyOf, filledDataDir, makeTemplate, type Template } from './bench-startup.js';

const arg = (name: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const flag = (name: string) => process.argv.includes(name);

const GOAL_RATIO = 0.8;
const WRITER_LEVELS = [1, 64] as const;
const BATCH = 2000;

const summarize = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN, n: sorted.length };
};
const median = (values: number[]) => summarize(values).p50;
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const f3 = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : 'n/a');
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : 'n/a');
const log = (text: string) => process.stderr.write(`${text}\n`);
const silent = createLogger('silent');

// ---------------------------------------------------------------- (a) appends

/** An organization.created-shaped event, as bench:eventstore appends. */
const makeEvent = (organizationId: string): NewEvent => {
  const eventId = uuidv7();
  return {
    type: 'organization.created',
    data: { organizationId, name: 'acme-corporation', description: 'Benchmark organization', tags: ['bench', 'ledger'], spec: { organizationType: 'domain', domain: 'acme.example.com' } },
    metadata: { eventId, occurredAt: new Date().toISOString(), actor: { subject: 'bench-user', kind: 'user' }, correlationId: eventId, causationId: eventId },
  };
};

/**
 * What the append benchmark writes: a user's state (user.created, then user.updated), whose name, description,
 * subject and tag values are personal data (src/domain/personal-data/map.ts), so the encrypting variant seals
 * them. One user per writer: the person's key is created once (its own durable write), then cached.
 */
const makeUserEvent = (userId: string, first: boolean): NewEvent => {
  // As the service's command pipeline makes event ids (the uuid package's v7 costs several µs more per event, in every variant).
  const eventId = eventIdV7();
  return {
    type: first ? 'user.created' : 'user.updated',
    data: {
      userId,
      organizationId: 'organization-bench',
      name: `person-${userId}`,
      description: 'Benchmark user with personal fields',
      tags: [{ name: 'team', value: 'ledger' }],
      subject: `${userId}@example.com`,
      state: 'active',
    },
    metadata: { eventId, occurredAt: new Date().toISOString(), actor: { subject: 'bench-admin', kind: 'user' }, correlationId: eventId, causationId: eventId },
  };
};

/**
 * What the writers append: `users`, each writer one user's events (user.created, then user.updated), every one
 * with personal fields to seal (the worst case for crypto-shredding); `mix`, each writer whole organizations of
 * bench:startup's mix (made through the API: users, groups, projects, allocations, applications, sign-ins and
 * token refreshes, client-credentials tokens, activity), in their order, each copy with fresh ids and names;
 * `mix-admin`, the same with each organization's administration done by a signed-in user (its own administrator, a
 * user actor whose email is sealed) instead of the platform's bootstrap token.
 */
type Workload = 'users' | 'mix' | 'mix-admin';

/** The organizations the mix's writers take, one at a time (made before any window, so no window pays for them). */
interface MixPool {
  readonly copies: ReadonlyArray<ReadonlyArray<{ streamName: string; event: NewEvent }>>;
  readonly events: number;
}

/** Enough organizations of the mix for the fastest run's window: past them, a run's window ends early. */
function mixPool(template: Template, events: number, signedInAdmin: boolean): MixPool {
  const copies: Array<Array<{ streamName: string; event: NewEvent }>> = [];
  let total = 0;
  while (total < events) {
    let copy = copyOf(template, copies.length);
    if (signedInAdmin) {
      const admin = { kind: 'user' as const, id: uuidv7(), subject: `admin-${copies.length}@example.com` };
      copy = copy.map(({ streamName, event }) =>
        event.metadata.actor.kind === 'platform_administrator' ? { streamName, event: { ...event, metadata: { ...event.metadata, actor: admin } } } : { streamName, event },
      );
    }
    copies.push(copy);
    total += copy.length;
  }
  return { copies, events: total };
}

type Variant = 'off' | 'off, the service\'s store without the cipher' | 'tree' | 'tree, main thread (before)' | 'tree + encryption' | 'encryption, no tree';
/** The service always wraps its store in EvolvingEventStore: this reference is that wrapper with no cipher, so the encryption variants are charged only the encryption. */
const SERVICE_OFF: Variant = 'off, the service\'s store without the cipher';

interface AppendResult {
  variant: Variant;
  writers: number;
  appends: number;
  /** Appends per second while writing. */
  rate: number;
  /** Events per second until the tree held them all (the writing window plus the builder's catch-up). */
  treeRate: number;
  catchUpMs: number;
  /** CPU time of the whole process (every thread: the tree's worker too) per append, in µs, over the window and the catch-up. */
  cpuPerAppend: number;
}

/** Crypto-shredding as src/service.ts opens the stores: EvolvingEventStore over the raw adapter, with the cipher. */
function encryptingStore(inner: SqliteEventStore, dir: string, name: string): { store: EventStore; keys: PersonKeys; close: () => void } {
  const keys = new PersonKeys(join(dir, `${name}-person-keys.sqlite`), SecretSealer.forDataDir(dir).deriveKey('person-keys'));
  return { store: new EvolvingEventStore(inner, new UnreadableEvents(silent), eventReader, new PersonalDataCipher(keys)), keys, close: () => keys.close() };
}

/** The persons whose keys sealing an organization of the mix needs: its users and its signed-in administrator. */
function personsOf(copy: ReadonlyArray<{ event: NewEvent }>): string[] {
  const persons = new Set<string>();
  for (const { event } of copy) forEachPersonToSeal(event, (personId) => persons.add(personId));
  return [...persons];
}

async function appendRun(dir: string, variant: Variant, writers: number, seconds: number, pool?: MixPool): Promise<AppendResult | string> {
  const name = `${variant.replace(/\W+/g, '-')}-${writers}-${uuidv7()}`;
  const before = variant === 'tree, main thread (before)';
  const raw = new SqliteEventStore(join(dir, `${name}.sqlite`));
  const encrypted = variant === 'tree + encryption' || variant === 'encryption, no tree' ? encryptingStore(raw, dir, name) : undefined;
  const store: EventStore = encrypted?.store ?? (variant === SERVICE_OFF ? new EvolvingEventStore(raw, new UnreadableEvents(silent), eventReader) : raw);
  const tree = variant === 'off' || variant === SERVICE_OFF || variant === 'encryption, no tree' ? undefined : new SqliteMerkleTree(join(dir, `${name}-ledger.sqlite`));
  // The tree hashes what is stored: the raw adapter (as src/service.ts wires it).
  const builder = tree ? new LedgerBuilder(raw, tree, silent, { thread: before ? 'main' : 'worker' }) : undefined;
  builder?.start();
  try {
    const warmUntil = performance.now() + 300;
    let measureFrom = 0;
    let measureUntil = 0;
    let appends = 0;
    let warmAppends = 0;
    let cpuFrom = process.cpuUsage();
    const counted = () => {
      if (measureFrom === 0 && performance.now() >= warmUntil) {
        measureFrom = performance.now();
        measureUntil = measureFrom + seconds * 1000;
        warmAppends = appends;
        cpuFrom = process.cpuUsage();
      }
      appends++;
    };
    const userWriter = async (index: number) => {
      const userId = `u-${writers}-${index}-${uuidv7()}`;
      const stream = `user-${userId}`;
      let expectedRevision: 'no_stream' | bigint | number = 'no_stream';
      for (;;) {
        const now = performance.now();
        if (measureUntil > 0 && now >= measureUntil) break;
        const result = await store.appendToStream(stream, [makeUserEvent(userId, expectedRevision === 'no_stream')], { expectedRevision });
        expectedRevision = result.nextExpectedRevision;
        counted();
      }
    };
    let nextCopy = 0;
    // As the service draws new users' ids (KeyedIdPool): their keys made ahead, KEYED_ID_BATCH persons per durable
    // write, here in the window when a copy's persons are not covered yet (the service makes the next batch before).
    let keyedCopies = 0;
    const keyAhead = async (index: number) => {
      const ids: string[] = [];
      while (keyedCopies < pool!.copies.length && (keyedCopies <= index || ids.length < KEYED_ID_BATCH)) ids.push(...personsOf(pool!.copies[keyedCopies++]!));
      await encrypted!.keys.makeKeys(ids);
    };
    const mixWriter = async () => {
      for (;;) {
        const index = nextCopy++;
        const copy = pool!.copies[index];
        if (copy && encrypted && index >= keyedCopies) await keyAhead(index);
        if (!copy) {
          // The pool is spent: the window ends here (its rate counts the time it took).
          if (measureUntil === 0 || performance.now() < measureUntil) measureUntil = performance.now();
          return;
        }
        for (const { streamName, event } of copy) {
          if (measureUntil > 0 && performance.now() >= measureUntil) return;
          await store.appendToStream(streamName, [event], { expectedRevision: 'any' });
          counted();
        }
      }
    };
    const writer = pool ? mixWriter : userWriter;
    await Promise.all(Array.from({ length: writers }, (_, i) => writer(i)));
    if (measureFrom === 0) throw new Error('the mix pool ran out before the warm-up ended');
    const ended = performance.now();
    const measured = appends - warmAppends;
    let catchUpMs = 0;
    if (builder && tree) {
      const head = await raw.headPosition();
      if (!(await builder.waitFor(head, 120_000))) throw new Error('the ledger builder did not catch up in 2 minutes');
      catchUpMs = performance.now() - ended;
      if (tree.size() !== appends) throw new Error(`the tree has ${tree.size()} leaves for ${appends} events`);
    }
    const cpu = process.cpuUsage(cpuFrom);
    const windowSeconds = (ended - measureFrom) / 1000;
    return { variant, writers, appends: measured, rate: measured / windowSeconds, treeRate: measured / (windowSeconds + catchUpMs / 1000), catchUpMs, cpuPerAppend: (cpu.user + cpu.system) / measured };
  } finally {
    await builder?.stop();
    tree?.close();
    await raw.close();
    encrypted?.close();
  }
}

async function appendBench(dir: string, options: { seconds: number; rounds: number; encryption: boolean; workloads: readonly Workload[] }): Promise<string[]> {
  const lines: string[] = [];
  // The mix's organization is made once, through the API of an in-process service, for both mix workloads.
  let template: Promise<Template> | undefined;
  const mix = () => (template ??= (log('  making the mix: one organization through the API of an in-process service'), makeTemplate()));
  for (const workload of options.workloads) lines.push(...(await appendWorkload(dir, workload, options, mix)));
  return lines;
}

async function appendWorkload(dir: string, workload: Workload, options: { seconds: number; rounds: number; encryption: boolean }, mix: () => Promise<Template>): Promise<string[]> {
  let pool: MixPool | undefined;
  let about = "each writer one user's events (user.created, then user.updated), every one with personal fields to seal";
  if (workload === 'mix' || workload === 'mix-admin') {
    const template = await mix();
    // The fastest run (64 writers, off) writes about 30,000 events a second here: enough for its warm-up and window.
    pool = mixPool(template, Math.ceil(36_000 * (options.seconds + 0.3)), workload === 'mix-admin');
    const types = new Map<string, number>();
    for (const { event } of pool.copies[0]!) types.set(event.type, (types.get(event.type) ?? 0) + 1);
    const personal = pool.copies[0]!.filter(({ event }) => PERSONAL_DATA[event.type] !== undefined || (event.metadata.actor.kind === 'user' && typeof event.metadata.actor.id === 'string')).length;
    about = `each writer whole organizations of bench:startup's mix${workload === 'mix-admin' ? ', administered by a signed-in user (a user actor, whose email is sealed) instead of the bootstrap token' : ''}, ${pool.copies[0]!.length} events each, of which ${personal} have personal fields or a user as their actor to seal (${[...types].sort((x, y) => y[1] - x[1]).map(([t, n]) => `${t} ${n}`).join(', ')}); ${int(pool.events)} events made before the runs`;
  }
  const variants: Variant[] = ['off', SERVICE_OFF, 'tree, main thread (before)', 'tree', ...(options.encryption ? (['tree + encryption', 'encryption, no tree'] as const) : [])];
  const results = new Map<string, AppendResult[]>();
  const notes = new Set<string>();
  for (let round = 0; round < options.rounds; round++) {
    for (const writers of WRITER_LEVELS) {
      // Alternate the order from round to round, so neither side always runs first.
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        const result = await appendRun(dir, variant, writers, options.seconds, pool);
        if (typeof result === 'string') {
          notes.add(result);
          continue;
        }
        log(`  ${workload}, round ${round + 1}, ${writers} writer(s), ${variant}: ${int(result.rate)} appends/s, ${f1(result.cpuPerAppend)} µs CPU per append, tree caught up ${f1(result.catchUpMs)} ms after`);
        const key = `${variant}|${writers}`;
        results.set(key, [...(results.get(key) ?? []), result]);
      }
    }
  }
  const lines = [
    `\n### (a) Appends with the ledger on and off, ${workload === 'mix' ? "the service's mix" : workload === 'mix-admin' ? "the service's mix, administered by a signed-in user" : "users' events"} (single-event appends, durable commits, ${options.seconds} s windows, median of ${options.rounds} alternating rounds)\n`,
    `Workload: ${about}.\n`,
    '| writers | ledger | appends/s while writing | events/s until in the tree | tree caught up after | / off (in the tree) | / the service\'s store off | process CPU per append |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const writers of WRITER_LEVELS) {
    const off = median((results.get(`off|${writers}`) ?? []).map((r) => r.rate));
    const serviceOff = median((results.get(`${SERVICE_OFF}|${writers}`) ?? []).map((r) => r.rate));
    for (const variant of variants) {
      const runs = results.get(`${variant}|${writers}`);
      if (!runs) continue;
      const rate = median(runs.map((r) => r.rate));
      const treeRate = median(runs.map((r) => r.treeRate));
      const ratio = variant === 'off' ? '1.00×' : `${f2(treeRate / off)}×${variant === 'tree' || variant === 'tree + encryption' ? ` (goal ≥ ${GOAL_RATIO}×: ${treeRate / off >= GOAL_RATIO ? 'met' : 'NOT met'})` : ''}`;
      const plain = variant === 'off' || variant === SERVICE_OFF;
      const cpu = `${f1(median(runs.map((r) => r.cpuPerAppend)))} µs`;
      lines.push(`| ${writers} | ${variant} | ${int(rate)} | ${plain ? '' : int(treeRate)} | ${plain ? '' : `${f1(median(runs.map((r) => r.catchUpMs)))} ms`} | ${ratio} | ${f2(treeRate / serviceOff)}× | ${cpu} |`);
    }
  }
  for (const note of notes) lines.push(`\n${note}`);
  if (!options.encryption) lines.push('\nencryption: not measured (--no-encryption)');
  return lines;
}

// ---------------------------------------------------------------- (b) proofs

const syntheticEvent = (i: number): RecordedEvent => ({
  position: { commit: BigInt(i), prepare: BigInt(i) },
  streamName: `organization-${i % 10_000}`,
  revision: Math.floor(i / 10_000),
  ...makeEvent(`organization-${i % 10_000}`),
});

async function proofBench(dir: string, size: number, skipHttp: boolean): Promise<string[]> {
  const dataDir = join(dir, 'proofs');
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'ledger.sqlite');
  let tree = new SqliteMerkleTree(file);
  const buildStarted = performance.now();
  for (let at = 0; at < size; at += BATCH) {
    const batch: RecordedEvent[] = [];
    for (let i = at; i < Math.min(size, at + BATCH); i++) batch.push(syntheticEvent(i + 1));
    tree.append(batch);
    if (at % 100_000 === 0) process.stderr.write(`\r  building a tree of ${int(size)} leaves: ${int(at)}`);
  }
  const buildSeconds = (performance.now() - buildStarted) / 1000;
  log(`\r  built a tree of ${int(size)} leaves in ${f1(buildSeconds)} s`);
  const root = tree.root(size);
  tree.close(); // checkpoints the WAL into the file, for its size
  const fileMiB = statSync(file).size / 2 ** 20;
  tree = new SqliteMerkleTree(file);

  const samples = Math.min(20_000, size);
  const inclusion: number[] = [];
  const consistency: number[] = [];
  let inclusionPath = 0;
  let consistencyPath = 0;
  for (let s = 0; s < samples; s++) {
    const index = randomInt(size);
    let started = performance.now();
    const proof = tree.inclusionProof(index, size);
    inclusion.push(performance.now() - started);
    inclusionPath += proof.length;
    if (s < 100 && !verifyInclusion(tree.leaf(index), index, size, proof, root)) throw new Error(`the inclusion proof of leaf ${index} does not verify`);
    const first = 1 + randomInt(size - 1 || 1);
    started = performance.now();
    const cproof = tree.consistencyProof(first, size);
    consistency.push(performance.now() - started);
    consistencyPath += cproof.length;
    if (s < 100 && !verifyConsistency(first, size, cproof, tree.root(first), root)) throw new Error(`the consistency proof ${first} → ${size} does not verify`);
  }
  const i = summarize(inclusion);
  const c = summarize(consistency);
  const lines = [
    `\n### (b) Proofs at ${int(size)} leaves\n`,
    '| measure | figure |',
    '| --- | ---: |',
    `| tree built straight into SQLite (batches of ${int(BATCH)}, leaf hashing included) | ${f1(buildSeconds)} s: ${int(size / buildSeconds)} leaves/s |`,
    `| ledger.sqlite at ${int(size)} leaves (WAL checkpointed) | ${f1(fileMiB)} MiB |`,
    `| inclusion proof, random leaf, whole tree: p50 / p99 / max (${int(i.n)}; ${f1(inclusionPath / samples)} hashes) | ${f3(i.p50)} / ${f3(i.p99)} / ${f3(i.max)} ms |`,
    `| consistency proof, random older size to the whole tree: p50 / p99 / max (${int(c.n)}; ${f1(consistencyPath / samples)} hashes) | ${f3(c.p50)} / ${f3(c.p99)} / ${f3(c.max)} ms |`,
  ];
  tree.close();
  if (skipHttp) return lines;

  // The same tree behind the service's endpoints: a fresh data directory whose ledger file is it.
  const server = await startTestServer({ dataDir, env: { LOG_LEVEL: 'warn', LEDGER_TREE_HEAD_SECONDS: '3600', READ_MODEL_SNAPSHOTS: 'false' } });
  try {
    const get = async (path: string) => {
      const started = performance.now();
      const response = await server.api(path);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
      return performance.now() - started;
    };
    const requests = Math.min(2000, size);
    const httpInclusion: number[] = [];
    const httpConsistency: number[] = [];
    for (let s = 0; s < 50; s++) await get(`/api/v1/audit/proofs/inclusion?position=${1 + randomInt(size)}&treeSize=${size}`); // warm-up
    for (let s = 0; s < requests; s++) {
      httpInclusion.push(await get(`/api/v1/audit/proofs/inclusion?position=${1 + randomInt(size)}&treeSize=${size}`));
      httpConsistency.push(await get(`/api/v1/audit/proofs/consistency?from=${1 + randomInt(size - 1 || 1)}&to=${size}`));
    }
    const hi = summarize(httpInclusion);
    const hc = summarize(httpConsistency);
    lines.push(`| GET /api/v1/audit/proofs/inclusion, same tree, one client: p50 / p99 / max (${int(hi.n)}) | ${f2(hi.p50)} / ${f2(hi.p99)} / ${f2(hi.max)} ms |`);
    lines.push(`| GET /api/v1/audit/proofs/consistency, same tree, one client: p50 / p99 / max (${int(hc.n)}) | ${f2(hc.p50)} / ${f2(hc.p99)} / ${f2(hc.max)} ms |`);
  } finally {
    await server.stop();
  }
  return lines;
}

// ---------------------------------------------------------------- (c) verifier

interface Row {
  position: number;
  stream_name: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
}

async function verifierBench(size: number, keep: boolean): Promise<string[]> {
  log('making the template organization through the API...');
  const template = await makeTemplate();
  const filled = await filledDataDir(template, size, keep, 'bench-ledger');
  const eventsFile = join(filled.dir, 'events.sqlite');
  const ledgerFile = join(filled.dir, 'ledger.sqlite');

  // The tree of the filled log, built as the service builds it: the LedgerBuilder catching up.
  let catchUp: number | undefined;
  const done = join(filled.dir, 'ledger-built.json');
  if (!(keep && existsSync(done))) {
    for (const suffix of ['', '-wal', '-shm']) rmSync(ledgerFile + suffix, { force: true });
    const store = new SqliteEventStore(eventsFile);
    const tree = new SqliteMerkleTree(ledgerFile);
    const builder = new LedgerBuilder(store, tree, silent);
    const started = performance.now();
    builder.start();
    const head = await store.headPosition();
    const progress = setInterval(() => process.stderr.write(`\r  the builder catching up: ${int(tree.size())} leaves`), 2000);
    if (!(await builder.waitFor(head, 3_600_000))) throw new Error('the ledger builder did not catch up');
    clearInterval(progress);
    catchUp = (performance.now() - started) / 1000;
    log(`\r  the builder caught up ${int(tree.size())} leaves in ${f1(catchUp)} s`);
    await builder.stop();
    tree.close();
    await store.close();
    writeFileSync(done, JSON.stringify({ catchUp }));
  }

  // A key and a tree head of the whole log, signed as the service signs them.
  const tree = new SqliteMerkleTree(ledgerFile);
  const treeSize = tree.size();
  const rootHash = tree.root(treeSize).toString('base64');
  tree.close();
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = 'bench-ledger';
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] };
  const timestamp = Date.now();
  const signature = await new SignJWT({ iss: 'bench-ledger', tree_size: treeSize, root_hash: rootHash, timestamp })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'tree-head+jwt' })
    .sign(privateKey);
  const kept: KeptTreeHead = { tree_size: treeSize, root_hash: rootHash, timestamp, signature };

  // The data-directory verifier, then a plain SHA-256 of each row read the same way.
  // On one thread (as before the worker threads), then as audit:verify runs it (worker threads, one per core), and on one worker.
  const singleThread = await verifyDataDirectory({ dataDir: filled.dir, jwks, keptHeads: [kept], hashThreads: 0 });
  const report = await verifyDataDirectory({ dataDir: filled.dir, jwks, keptHeads: [kept] });
  const oneWorker = await verifyDataDirectory({ dataDir: filled.dir, jwks, keptHeads: [kept], hashThreads: 1 });
  for (const r of [singleThread, report, oneWorker]) if (!r.ok) throw new Error(`the honest data directory did not verify: ${JSON.stringify(r.firstDifference ?? r.heads)}`);
  const db = new Database(eventsFile, { readonly: true });
  let rows = 0;
  let bytes = 0;
  let started = performance.now();
  for (const row of db.prepare('SELECT position, stream_name, revision, type, data, metadata FROM events ORDER BY position').iterate() as Iterable<Row>) {
    createHash('sha256').update(row.stream_name).update(row.type).update(row.data).update(row.metadata).digest();
    bytes += row.stream_name.length + row.type.length + row.data.length + row.metadata.length;
    rows++;
  }
  const plainRowsSeconds = (performance.now() - started) / 1000;

  // An NDJSON export of the same log (exportLineOf), its verifier, and a plain SHA-256 of each line.
  const exportFile = join(mkdtempSync(join(tmpdir(), 'bench-ledger-export-')), 'events.ndjson');
  started = performance.now();
  const out = createWriteStream(exportFile);
  for (const row of db.prepare('SELECT position, stream_name, revision, type, data, metadata FROM events ORDER BY position').iterate() as Iterable<Row>) {
    const line = exportLineOf({
      position: { commit: BigInt(row.position), prepare: BigInt(row.position) },
      streamName: row.stream_name,
      revision: row.revision,
      type: row.type,
      data: JSON.parse(row.data),
      metadata: JSON.parse(row.metadata),
    });
    if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const exportSeconds = (performance.now() - started) / 1000;
  db.close();
  const exportBytes = statSync(exportFile).size;

  const exported = await verifyExport({ file: exportFile, jwks, keptHeads: [kept] });
  if (!exported.ok) throw new Error(`the honest export did not verify: ${JSON.stringify(exported.firstDifference ?? exported.heads)}`);
  started = performance.now();
  let lines = 0;
  for await (const line of createInterface({ input: createReadStream(exportFile, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity })) {
    createHash('sha256').update(line).digest();
    lines++;
  }
  const plainLinesSeconds = (performance.now() - started) / 1000;
  rmSync(join(exportFile, '..'), { recursive: true, force: true });

  // For reference: leaf hashing alone (canonical JSON + SHA-256), no reading; and with the canonicalize package
  // as the leaf was computed before canonicalJson (the same bytes), alternated, the best of 5 each.
  const sample = Array.from({ length: 50_000 }, (_, i) => syntheticEvent(i + 1));
  const withPackage = (event: RecordedEvent) =>
    leafHash(canonicalize({ position: positionToString(event.position), stream: event.streamName, revision: event.revision, type: event.type, data: event.data, metadata: event.metadata })!);
  let leafOnly = 0;
  let leafPackage = 0;
  for (let round = 0; round < 5; round++) {
    started = performance.now();
    for (const event of sample) eventLeafHash(event);
    leafOnly = Math.max(leafOnly, sample.length / ((performance.now() - started) / 1000));
    started = performance.now();
    for (const event of sample) withPackage(event);
    leafPackage = Math.max(leafPackage, sample.length / ((performance.now() - started) / 1000));
  }

  const result = [
    `\n### (c) The offline verifier over ${int(report.events)} events (the bench:startup mix)\n`,
    '| measure | figure |',
    '| --- | ---: |',
    ...(catchUp !== undefined ? [`| the LedgerBuilder catching up the whole log (a tree started over an existing log) | ${f1(catchUp)} s: ${int(treeSize / catchUp)} events/s |`] : []),
    `| data-dir verifier on one thread (before): every row hashed again, compared with the tree, the kept head checked | ${f1(singleThread.seconds)} s: ${int(singleThread.events / singleThread.seconds)} events/s |`,
    `| npm run audit:verify -- --data-dir (default: ${Math.min(8, availableParallelism())} hashing threads on ${availableParallelism()} cores) | ${f1(report.seconds)} s: **${int(report.events / report.seconds)} events/s** (${f2(singleThread.seconds / report.seconds)}× one thread) |`,
    `| the same with 1 hashing thread | ${f1(oneWorker.seconds)} s: ${int(oneWorker.events / oneWorker.seconds)} events/s (${f2(singleThread.seconds / oneWorker.seconds)}× one thread) |`,
    `| reference: plain SHA-256 of each row (stream, type, data, metadata; ${f1(bytes / 2 ** 20)} MiB), same query | ${f1(plainRowsSeconds)} s: ${int(rows / plainRowsSeconds)} rows/s |`,
    `| data-dir verifier / plain SHA-256 | ${f2(report.events / report.seconds / (rows / plainRowsSeconds))}× |`,
    `| writing the NDJSON export (exportLineOf, ${f1(exportBytes / 2 ** 20)} MiB) | ${f1(exportSeconds)} s: ${int(lines / exportSeconds)} lines/s |`,
    `| npm run audit:verify -- --export: every line hashed again, the tree rebuilt, the kept head checked | ${f1(exported.seconds)} s: **${int(exported.lines / exported.seconds)} events/s** |`,
    `| reference: plain SHA-256 of each line of the same file, read the same way | ${f1(plainLinesSeconds)} s: ${int(lines / plainLinesSeconds)} lines/s |`,
    `| export verifier / plain SHA-256 | ${f2(exported.lines / exported.seconds / (lines / plainLinesSeconds))}× |`,
    `| for scale: leaf hashing alone (RFC 8785 canonical JSON + SHA-256), in memory | ${int(leafOnly)} events/s |`,
    `| the same with the canonicalize package (as before canonicalJson; the same leaves) | ${int(leafPackage)} events/s (canonicalJson: ${f2(leafOnly / leafPackage)}×) |`,
  ];
  return result;
}

/**
 * (k) Batches of persons' keys (KeyedIdPool's 256): how long each holds the event loop, with the write on the key
 * maker's thread (as the service does) beside the same batch written on the event loop, alternated in one run.
 */
async function keyBatchBench(dir: string): Promise<string[]> {
  const sides = { thread: [] as Array<[number, number]>, 'event-loop': [] as Array<[number, number]> };
  const wrappingKey = randomBytes(32);
  const stores = {
    thread: new PersonKeys(join(dir, 'keys-thread.sqlite'), wrappingKey),
    'event-loop': new PersonKeys(join(dir, 'keys-event-loop.sqlite'), wrappingKey, undefined, { writeKeysOn: 'event-loop' }),
  };
  try {
    for (let round = 0; round < 24; round++) {
      for (const side of round % 2 === 0 ? (['thread', 'event-loop'] as const) : (['event-loop', 'thread'] as const)) {
        const ids = Array.from({ length: KEYED_ID_BATCH }, () => randomUUID());
        const before = performance.eventLoopUtilization();
        const started = performance.now();
        await stores[side].makeKeys(ids);
        const busy = performance.eventLoopUtilization(before).active;
        // The first two rounds of each side start the thread and warm the statements.
        if (round >= 4) sides[side].push([busy, performance.now() - started]);
      }
    }
  } finally {
    for (const store of Object.values(stores)) store.close();
  }
  const median = (values: number[]) => values.sort((x, y) => x - y)[values.length >> 1]!;
  const row = (label: string, side: keyof typeof sides) => {
    const busy = median(sides[side].map(([b]) => b));
    const wall = median(sides[side].map(([, w]) => w));
    return `| ${label} | ${f2(busy)} ms | ${f1((busy * 1000) / KEYED_ID_BATCH)} µs | ${f2(wall)} ms |`;
  };
  return [
    `\n### (k) A batch of ${KEYED_ID_BATCH} persons' keys (median of ${sides.thread.length} alternated batches)`,
    '',
    '| where the batch is written | event loop busy per batch | per person | until the keys are in memory |',
    '| --- | ---: | ---: | ---: |',
    row("the key maker's thread (the service)", 'thread'),
    row('reference: the event loop (as before)', 'event-loop'),
  ];
}

async function main(): Promise<void> {
  const size = Number(arg('--size') ?? 1_000_000);
  const seconds = Number(arg('--append-seconds') ?? 3);
  const rounds = Number(arg('--rounds') ?? 3);
  if (!(Number.isInteger(size) && size >= 2 && seconds > 0 && Number.isInteger(rounds) && rounds >= 1)) throw new Error('usage: bench-ledger [--size N ≥ 2] [--append-seconds S] [--rounds R] [--keep] [--skip-http] [--encryption]');
  const dir = mkdtempSync(join(tmpdir(), 'bench-ledger-'));
  const startedAt = performance.now();
  try {
    const parts = arg('--parts') ?? 'abck';
    log(`(a) appends, ${rounds} rounds of ${seconds} s per case...`);
    const workloads = (arg('--workload') ?? 'users,mix,mix-admin').split(',') as Workload[];
    if (!workloads.every((w) => w === 'users' || w === 'mix' || w === 'mix-admin')) throw new Error('--workload takes users, mix and mix-admin, comma-separated');
    const a = parts.includes('a') ? await appendBench(dir, { seconds, rounds, encryption: !flag('--no-encryption'), workloads }) : [];
    log(`(b) proofs at ${int(size)} leaves...`);
    const b = parts.includes('b') ? await proofBench(dir, size, flag('--skip-http')) : [];
    rmSync(join(dir, 'proofs'), { recursive: true, force: true });
    log(`(c) the verifier over ${int(size)} events...`);
    const c = parts.includes('c') ? await verifierBench(size, flag('--keep')) : [];
    log("(k) batches of persons' keys...");
    const k = parts.includes('k') ? await keyBatchBench(dir) : [];
    console.log(`\n## Ledger at ${int(size)} (bench:ledger, ${f1((performance.now() - startedAt) / 60_000)} min)`);
    for (const line of [...a, ...b, ...c, ...k]) console.log(line);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
