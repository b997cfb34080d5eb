import Database from 'better-sqlite3';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { TOMBSTONE_EVENT_TYPE, type TombstoneData } from '../../domain/retention.js';
import { eventLeafHash } from '../../domain/ledger/leaf.js';
import { type Hash, nodeHash } from '../../domain/ledger/merkle.js';
import { comparePositions, type GlobalPosition, parsePosition, positionToString, type RecordedEvent } from '../../ports/event-store.js';
import { type ExportLine, exportLineSchema } from './export-line.js';
import { type LeafHashReply, type LeafHashRequest, type LeafHashWorkerData, ROW_HASHED, ROW_INVALID, ROW_TOMBSTONE_BARE } from './leaf-hash-worker.js';

/** A tree head an auditor kept (the body of GET /api/v1/audit/tree-head). */
export interface KeptTreeHead {
  readonly tree_size: number;
  readonly root_hash: string;
  readonly timestamp: number;
  readonly signature: string;
}

export interface Difference {
  /** The global position where the log first differs from what was recorded (or, for a head, the size it covers). */
  readonly position: string;
  readonly reason: string;
}

export interface VerificationReport {
  readonly ok: boolean;
  /** Events of the log read and hashed. */
  readonly events: number;
  /** Leaves the stored tree has. */
  readonly treeSize: number;
  /** Events removed by retention before tombstones carried their leaf hash: taken from the stored tree, unchecked. */
  readonly unverifiableTombstones: number;
  /** The first difference between the log and the stored tree's leaves. */
  readonly firstDifference?: Difference;
  /** Each tree head checked: its signature, and its root against the log's recomputed tree. */
  readonly heads: ReadonlyArray<{ readonly treeSize: number; readonly signature: boolean; readonly root: boolean; readonly source: 'kept' | 'stored' }>;
  readonly seconds: number;
}

/**
 * The right edge of a Merkle tree grown leaf by leaf: the complete subtrees
 * of the current size's binary decomposition, largest first. O(log n) memory;
 * the root of the current size at any moment.
 */
export class MerkleFrontier {
  private readonly stack: Array<{ size: number; hash: Hash }> = [];
  size = 0;

  push(leaf: Hash): void {
    let node = { size: 1, hash: leaf };
    while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.size === node.size) {
      const left = this.stack.pop()!;
      node = { size: left.size * 2, hash: nodeHash(left.hash, node.hash) };
    }
    this.stack.push(node);
    this.size += 1;
  }

  root(): Hash | undefined {
    if (this.stack.length === 0) return undefined;
    let hash = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) hash = nodeHash(this.stack[i]!.hash, hash);
    return hash;
  }
}

type KeySet = ReturnType<typeof createLocalJWKSet>;

/** Is the head's JWS valid under the JWKS, and does it sign this size and root? */
async function headSignatureValid(verifyKey: KeySet, head: { treeSize: number; rootHash: string; signature: string }): Promise<boolean> {
  try {
    const { payload } = await jwtVerify(head.signature, verifyKey, { typ: 'tree-head+jwt' });
    return payload['tree_size'] === head.treeSize && payload['root_hash'] === head.rootHash;
  } catch {
    return false;
  }
}

interface EventRow {
  position: number;
  stream_name: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
}

/**
 * The public halves of the keys in the data directory. A convenience only:
 * whoever can rewrite the log can rewrite this file too, so an auditor checks
 * with the JWKS they fetched and kept (--jwks).
 */
const publicKeys = (dataDir: string): JSONWebKeySet | undefined => {
  const file = join(dataDir, 'signing-keys.json');
  if (!existsSync(file)) return undefined;
  const stored = (JSON.parse(readFileSync(file, 'utf8')) as { keys: Array<{ kid: string; privateJwk: Record<string, unknown> }> }).keys;
  return { keys: stored.map(({ kid, privateJwk: { d: _d, ...publicPart } }) => ({ ...publicPart, kid })) };
};

/**
 * Verify a data directory offline: hash every event of the log as stored
 * (events.sqlite), compare each leaf with the tree kept beside it
 * (ledger.sqlite) in order, and check each tree head (those the service
 * stored, and those the auditor kept) for its signature and its root against
 * the recomputed tree. The first position where anything differs is named.
 * Opens both files read-only; run it on a copy or beside the running service.
 */
export async function verifyDataDirectory(options: {
  dataDir: string;
  jwks?: JSONWebKeySet;
  keptHeads?: readonly KeptTreeHead[];
  /** Worker threads that read and hash the events (0: all on this thread). Default: one per core (the main thread only compares), at most 8. */
  hashThreads?: number;
  /** Positions per request to a thread (tests use a few, to cross many ranges). */
  hashChunk?: number;
}): Promise<VerificationReport> {
  const startedAt = performance.now();
  const events = new Database(join(options.dataDir, 'events.sqlite'), { readonly: true, fileMustExist: true });
  const ledger = new Database(join(options.dataDir, 'ledger.sqlite'), { readonly: true, fileMustExist: true });
  const open: Array<{ return?: (value?: undefined) => unknown }> = [];
  try {
    const treeSize = (ledger.prepare('SELECT COUNT(*) AS n FROM merkle_leaves').get() as { n: number }).n;
    const storedHeads = ledger.prepare('SELECT tree_size, root_hash, timestamp, signature FROM tree_heads ORDER BY tree_size').all() as Array<{
      tree_size: number;
      root_hash: Buffer;
      timestamp: number;
      signature: string;
    }>;
    const heads = [
      ...storedHeads.map((h) => ({ treeSize: h.tree_size, rootHash: h.root_hash.toString('base64'), signature: h.signature, source: 'stored' as const })),
      ...(options.keptHeads ?? []).map((h) => ({ treeSize: h.tree_size, rootHash: h.root_hash, signature: h.signature, source: 'kept' as const })),
    ].sort((a, b) => a.treeSize - b.treeSize);
    const keySet = options.jwks ?? publicKeys(options.dataDir);
    const verifyKey = keySet ? createLocalJWKSet(keySet) : undefined;

    const recorded = ledger
      .prepare('SELECT l.leaf_index, l.commit_position, n.hash FROM merkle_leaves l JOIN merkle_nodes n ON n.level = 0 AND n.idx = l.leaf_index ORDER BY l.leaf_index')
      .iterate() as IterableIterator<{ leaf_index: number; commit_position: number; hash: Buffer }>;
    const threads = options.hashThreads ?? Math.min(8, availableParallelism());
    const rows =
      threads > 0
        ? hashedInWorkers(join(options.dataDir, 'events.sqlite'), Number((events.prepare('SELECT MAX(position) AS last FROM events').get() as { last: number | null }).last ?? 0), threads, options.hashChunk ?? HASH_CHUNK)
        : hashedHere(events.prepare(`SELECT position, stream_name, revision, type, data, metadata FROM events ORDER BY position`).iterate() as IterableIterator<EventRow>);
    open.push(recorded, rows);

    const frontier = new MerkleFrontier();
    const results: Array<VerificationReport['heads'][number]> = [];
    let firstDifference: Difference | undefined;
    let headIndex = 0;
    let count = 0;
    let unverifiable = 0;
    const checkHeadsAt = async (size: number) => {
      while (headIndex < heads.length && heads[headIndex]!.treeSize === size) {
        const head = heads[headIndex++]!;
        const root = frontier.root()?.toString('base64') === head.rootHash;
        const signature = verifyKey ? await headSignatureValid(verifyKey, head) : false;
        results.push({ treeSize: head.treeSize, signature, root, source: head.source });
        if (!root) firstDifference ??= { position: String(size), reason: `the ${head.source} tree head of size ${size} does not match the log's first ${size} events` };
      }
    };
    while (headIndex < heads.length && heads[headIndex]!.treeSize === 0) headIndex++;
    let leaf = recorded.next();
    // The rows come in batches (a worker's range): nothing is awaited per row but at a head's size.
    read: for (;;) {
      const batch = await rows.next();
      if (batch.done) {
        // The log ends before the tree: its tail was cut.
        if (!leaf.done) firstDifference ??= { position: String(leaf.value.commit_position), reason: `the log ends before position ${leaf.value.commit_position}, which the tree holds` };
        break;
      }
      for (const event of batch.value) {
        const position = event.position;
        const expected = leaf.done ? undefined : leaf.value;
        let hash: Hash | undefined;
        if (event.kind !== ROW_HASHED && event.kind !== ROW_INVALID) {
          // Removed by retention: its row keeps the original's leaf hash. One removed before the tree
          // reached it (a tree started over an old log) was never a leaf: passed over.
          if (!expected || expected.commit_position !== position) continue;
          hash = event.kind === ROW_TOMBSTONE_BARE ? expected.hash : event.hash;
          if (event.kind === ROW_TOMBSTONE_BARE) unverifiable += 1;
        } else if (event.kind === ROW_INVALID) {
          firstDifference ??= { position: String(event.position), reason: 'the event is not valid JSON' };
          break read;
        } else {
          hash = event.hash;
        }
        if (expected && firstDifference === undefined) {
          if (expected.commit_position !== position) {
            const missing = expected.commit_position < position;
            firstDifference = {
              position: String(missing ? expected.commit_position : event.position),
              reason: missing ? `the event at position ${expected.commit_position} is missing from the log` : `the log has an event at position ${event.position} the tree does not`,
            };
          } else if (!expected.hash.equals(hash)) {
            firstDifference = { position: String(event.position), reason: 'the event differs from what was hashed into the tree' };
          }
        }
        if (expected) leaf = recorded.next();
        frontier.push(hash);
        count += 1;
        if (headIndex < heads.length && heads[headIndex]!.treeSize === frontier.size) await checkHeadsAt(frontier.size);
      }
    }
    for (; headIndex < heads.length; headIndex++) {
      const head = heads[headIndex]!;
      results.push({ treeSize: head.treeSize, signature: false, root: false, source: head.source });
      firstDifference ??= { position: String(count + 1), reason: `a tree head covers ${head.treeSize} events, the log has ${count}` };
    }
    return {
      ok: firstDifference === undefined && results.every((h) => h.root && (h.signature || !verifyKey)),
      events: count,
      treeSize,
      unverifiableTombstones: unverifiable,
      ...(firstDifference && { firstDifference }),
      heads: results,
      seconds: (performance.now() - startedAt) / 1000,
    };
  } finally {
    for (const iterator of open) await iterator.return?.();
    events.close();
    ledger.close();
  }
}

/** One row of the log as the verifier needs it: where it is, what it is, and its leaf hash (or the one a tombstone kept). */
interface HashedRow {
  /** A number, as better-sqlite3 reads the column (positions stay below 2^53). */
  readonly position: number;
  readonly kind: number;
  readonly hash: Hash;
}

const NO_HASH = Buffer.alloc(32);

/** The rows hashed on this thread, in order, 1,024 at a time. */
async function* hashedHere(rows: IterableIterator<EventRow>): AsyncGenerator<HashedRow[]> {
  let batch: HashedRow[] = [];
  try {
    for (const row of rows) {
      if (batch.length >= 1024) {
        yield batch;
        batch = [];
      }
      const position = Number(row.position);
      if (row.type === TOMBSTONE_EVENT_TYPE) {
        const kept = (JSON.parse(row.data) as TombstoneData).leafHash;
        batch.push(kept === undefined ? { position, kind: ROW_TOMBSTONE_BARE, hash: NO_HASH } : { position, kind: 1, hash: Buffer.from(kept, 'base64') });
        continue;
      }
      let hash: Hash;
      try {
        const at = BigInt(row.position);
        hash = eventLeafHash({ position: { commit: at, prepare: at }, streamName: row.stream_name, revision: row.revision, type: row.type, data: JSON.parse(row.data), metadata: JSON.parse(row.metadata) });
      } catch {
        batch.push({ position, kind: ROW_INVALID, hash: NO_HASH });
        continue;
      }
      batch.push({ position, kind: ROW_HASHED, hash });
    }
    if (batch.length > 0) yield batch;
  } finally {
    rows.return?.();
  }
}

/** Positions per request to a worker. */
const HASH_CHUNK = 4096;

/**
 * The rows read and hashed by worker threads, each reading events.sqlite
 * itself, a range of positions at a time; answered here in the log's order.
 * Up to two ranges per worker are in flight, so reading, hashing and the
 * comparison here overlap.
 */
async function* hashedInWorkers(eventsFile: string, lastPosition: number, threads: number, chunk: number): AsyncGenerator<HashedRow[]> {
  const workers = Array.from({ length: threads }, () => new Worker(new URL('./leaf-hash-worker.js', import.meta.url), { workerData: { eventsFile } satisfies LeafHashWorkerData }));
  const waiting = new Map<number, { resolve: (reply: LeafHashReply) => void; reject: (error: Error) => void }>();
  for (const worker of workers) {
    worker.on('message', (reply: LeafHashReply) => {
      const pending = waiting.get(reply.id);
      waiting.delete(reply.id);
      if (reply.error !== undefined) pending?.reject(new Error(`a verifier thread could not read events.sqlite: ${reply.error}`));
      else pending?.resolve(reply);
    });
    worker.on('error', (error) => {
      for (const pending of waiting.values()) pending.reject(error);
      waiting.clear();
    });
  }
  let nextId = 0;
  const ask = (after: number): Promise<LeafHashReply> => {
    const id = nextId++;
    const answer = new Promise<LeafHashReply>((resolve, reject) => waiting.set(id, { resolve, reject }));
    workers[id % threads]!.postMessage({ id, after, upTo: after + chunk } satisfies LeafHashRequest);
    return answer;
  };
  const queue: Promise<LeafHashReply>[] = [];
  let after = 0;
  const fill = () => {
    while (queue.length < threads * 2 && after < lastPosition) {
      const answer = ask(after);
      answer.catch(() => undefined); // awaited in order below
      queue.push(answer);
      after += chunk;
    }
  };
  try {
    fill();
    while (queue.length > 0) {
      const reply = await queue.shift()!;
      fill();
      const hashes = Buffer.from(reply.hashes.buffer, reply.hashes.byteOffset, reply.hashes.byteLength);
      const batch: HashedRow[] = new Array(reply.kinds.length);
      for (let i = 0; i < reply.kinds.length; i += 1) batch[i] = { position: reply.positions[i]!, kind: reply.kinds[i]!, hash: hashes.subarray(i * 32, i * 32 + 32) };
      if (batch.length > 0) yield batch;
    }
  } finally {
    for (const worker of workers) void worker.terminate();
  }
}


export interface ExportDifference extends Difference {
  /** The line of the export (1-based) where the difference shows, when it is one line. */
  readonly line?: number;
}

export interface ExportVerificationReport {
  readonly ok: boolean;
  /** Lines of the export read. */
  readonly lines: number;
  /** Leaves of the tree recomputed from the export. */
  readonly leaves: number;
  /** Events whose leaf hash was recomputed from their content and matched. */
  readonly recomputed: number;
  /**
   * Events whose content cannot be hashed again (erased, `"[erased]"`, or encrypted
   * personal data, `pd:v1:...`): their leaf hash is taken as given, so the tree still
   * proves their place and order, but not their content.
   */
  readonly checkedByHashOnly: number;
  /** Retention tombstones that kept their original's leaf hash: taken as given. */
  readonly tombstones: number;
  /** Tombstones written before tombstones kept a leaf hash: passed over as no leaf. */
  readonly unverifiableTombstones: number;
  readonly firstDifference?: ExportDifference;
  /** Each kept tree head: its signature under the JWKS, and its root against the export's tree. */
  readonly heads: ReadonlyArray<{ readonly treeSize: number; readonly signature: boolean; readonly root: boolean }>;
  readonly seconds: number;
}

/** Markers of content that no longer hashes to its leaf: erased personal data, or an encrypted envelope shown as such. */
const ERASED = '[erased]';
/**
 * Sealed envelopes (`pd:v1:`) are the stored form and always hash again; so does
 * a line with `stored`. Only a line that shows `[erased]` in place of what was
 * stored, without the stored form beside it, cannot be re-hashed.
 */
const holdsErasedOrEncrypted = (value: unknown): boolean => {
  if (typeof value === 'string') return value === ERASED;
  if (Array.isArray(value)) return value.some(holdsErasedOrEncrypted);
  if (value !== null && typeof value === 'object') return Object.values(value).some(holdsErasedOrEncrypted);
  return false;
};

const linesOf = (file: string): AsyncIterable<string> => createInterface({ input: createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity });

/**
 * Verify an NDJSON export of the whole log (from position 1, in order:
 * GET /api/v1/events?order=asc with Accept: application/x-ndjson) against
 * tree heads the auditor kept and the JWKS, with nothing from the service:
 *
 * - each line's leaf hash is computed again from {position, stream, revision,
 *   type, data, metadata} and compared with its `leafHash`; a line whose content
 *   was erased or is encrypted (it holds `"[erased]"` or `pd:v1:` strings) and no
 *   longer hashes to it is taken by its `leafHash` and counted as checked by hash
 *   only; a retention tombstone is taken by the leaf hash it kept;
 * - the leaves, in order, build the RFC 9162 tree; at each kept head's size its
 *   root must equal the head's, and the head's JWS must verify under the JWKS;
 * - positions must increase; on the embedded store (the default) they are `n/n`
 *   from `1/1` with no gaps (a removed event stays as a tombstone), so a removed
 *   or moved line is named by the position it should have held.
 *
 * The first position where anything differs is named. A line changed together
 * with its leafHash is caught only by the root, so it is named by the head
 * whose tree it falls in.
 */
export async function verifyExport(options: {
  file?: string;
  lines?: AsyncIterable<string>;
  jwks: JSONWebKeySet;
  keptHeads: readonly KeptTreeHead[];
  /**
   * The embedded store's positions: `n/n`, gapless from `1/1` (the default). False for
   * EventStoreDB, whose positions only increase: a removed line is then caught by the root only.
   */
  embeddedPositions?: boolean;
}): Promise<ExportVerificationReport> {
  const startedAt = performance.now();
  const input = options.lines ?? (options.file !== undefined ? linesOf(options.file) : undefined);
  if (!input) throw new Error('verifyExport needs a file or lines');
  const verifyKey = createLocalJWKSet(options.jwks);
  const heads = [...options.keptHeads].sort((a, b) => a.tree_size - b.tree_size);
  const results: Array<ExportVerificationReport['heads'][number]> = [];
  const frontier = new MerkleFrontier();
  let firstDifference: ExportDifference | undefined;
  const differ = (difference: ExportDifference) => (firstDifference ??= difference);
  let headIndex = 0;
  let lineNumber = 0;
  let recomputed = 0;
  let hashOnly = 0;
  let tombstones = 0;
  let unverifiable = 0;
  let previous: GlobalPosition | undefined;
  const gapless = options.embeddedPositions ?? true;
  let lastPosition = '';

  const checkHeadsAt = async (size: number, line: number) => {
    while (headIndex < heads.length && heads[headIndex]!.tree_size <= size) {
      const kept = heads[headIndex++]!;
      const head = { treeSize: kept.tree_size, rootHash: kept.root_hash, signature: kept.signature };
      const signature = await headSignatureValid(verifyKey, head);
      const root = head.treeSize === size && frontier.root()?.toString('base64') === head.rootHash;
      results.push({ treeSize: head.treeSize, signature, root });
      if (!signature) differ({ position: String(head.treeSize), reason: `the kept tree head of size ${head.treeSize} has no valid signature under the JWKS` });
      if (!root)
        differ({
          position: lastPosition,
          line,
          reason: `the tree of the export's first ${size} leaves (through position ${lastPosition}) does not match the signed tree head of size ${head.treeSize}: a line up to here was changed together with its leafHash, added or removed`,
        });
    }
  };
  // A head of size 0 signs the empty tree.
  await checkHeadsAt(0, 0);

  for await (const text of input) {
    lineNumber += 1;
    if (text.trim() === '') continue;
    let parsed: ExportLine;
    try {
      const result = exportLineSchema.safeParse(JSON.parse(text));
      if (!result.success) {
        differ({ position: lastPosition, line: lineNumber, reason: `line ${lineNumber} is not an export line: ${result.error.issues.map((i) => `${i.path.join('.') || 'line'}: ${i.message}`).join('; ')}` });
        break;
      }
      parsed = result.data;
    } catch {
      differ({ position: lastPosition, line: lineNumber, reason: `line ${lineNumber} is not JSON` });
      break;
    }
    const position = parsePosition(parsed.position);
    if (gapless) {
      const expected = (previous?.commit ?? 0n) + 1n;
      if (position.commit !== expected || position.prepare !== expected)
        differ({ position: `${expected}/${expected}`, line: lineNumber, reason: `line ${lineNumber} holds position ${parsed.position} where position ${expected}/${expected} belongs: a line was removed or moved` });
    } else if (previous && comparePositions(position, previous) <= 0) {
      differ({ position: parsed.position, line: lineNumber, reason: `line ${lineNumber} (position ${parsed.position}) is not after position ${positionToString(previous)}: lines were moved` });
    }
    previous = position;
    lastPosition = parsed.position;

    let hash: Hash;
    if (parsed.type === TOMBSTONE_EVENT_TYPE) {
      if (parsed.leafHash === null) {
        unverifiable += 1;
        continue;
      }
      hash = Buffer.from(parsed.leafHash, 'base64');
      tombstones += 1;
    } else {
      const content = parsed.stored ?? parsed;
      const again = eventLeafHash({ position, streamName: parsed.stream, revision: parsed.revision, type: parsed.type, data: content.data, metadata: content.metadata as RecordedEvent['metadata'] });
      const given = parsed.leafHash === null ? undefined : Buffer.from(parsed.leafHash, 'base64');
      if (given && again.equals(given)) {
        recomputed += 1;
        hash = again;
      } else if (given && parsed.stored === undefined && (holdsErasedOrEncrypted(parsed.data) || holdsErasedOrEncrypted(parsed.metadata))) {
        hashOnly += 1;
        hash = given;
      } else {
        differ({ position: parsed.position, line: lineNumber, reason: given ? 'the event differs from its leaf hash' : 'the event has no leaf hash' });
        hash = again;
      }
    }
    frontier.push(hash);
    await checkHeadsAt(frontier.size, lineNumber);
  }
  for (; headIndex < heads.length; headIndex++) {
    const kept = heads[headIndex]!;
    const next = gapless && previous ? `${previous.commit + 1n}/${previous.commit + 1n}` : `after ${lastPosition || 'nothing'}`;
    results.push({ treeSize: kept.tree_size, signature: await headSignatureValid(verifyKey, { treeSize: kept.tree_size, rootHash: kept.root_hash, signature: kept.signature }), root: false });
    differ({ position: next, line: lineNumber + 1, reason: `the export ends after ${frontier.size} leaves; the tree head of size ${kept.tree_size} covers more: its tail was cut` });
  }
  return {
    ok: firstDifference === undefined && results.length > 0 && results.every((h) => h.root && h.signature),
    lines: lineNumber,
    leaves: frontier.size,
    recomputed,
    checkedByHashOnly: hashOnly,
    tombstones,
    unverifiableTombstones: unverifiable,
    ...(firstDifference && { firstDifference }),
    heads: results,
    seconds: (performance.now() - startedAt) / 1000,
  };
}
