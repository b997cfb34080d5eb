import Database from 'better-sqlite3';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { TOMBSTONE_EVENT_TYPE, type TombstoneData } from '../../domain/retention.js';
import { eventLeafHash } from '../../domain/ledger/leaf.js';
import { type Hash, nodeHash } from '../../domain/ledger/merkle.js';
import { comparePositions, type GlobalPosition, parsePosition, positionToString, type RecordedEvent } from '../../ports/event-store.js';
import { type ExportLine, exportLineSchema } from './export-line.js';

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
export async function verifyDataDirectory(options: { dataDir: string; jwks?: JSONWebKeySet; keptHeads?: readonly KeptTreeHead[] }): Promise<VerificationReport> {
  const startedAt = performance.now();
  const events = new Database(join(options.dataDir, 'events.sqlite'), { readonly: true, fileMustExist: true });
  const ledger = new Database(join(options.dataDir, 'ledger.sqlite'), { readonly: true, fileMustExist: true });
  const open: Array<IterableIterator<unknown>> = [];
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
    const rows = events.prepare(`SELECT position, stream_name, revision, type, data, metadata FROM events ORDER BY position`).iterate() as IterableIterator<EventRow>;
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
    for (let row = rows.next(); ; row = rows.next()) {
      if (row.done) {
        // The log ends before the tree: its tail was cut.
        if (!leaf.done) firstDifference ??= { position: String(leaf.value.commit_position), reason: `the log ends before position ${leaf.value.commit_position}, which the tree holds` };
        break;
      }
      const event = row.value;
      const position = BigInt(event.position);
      const expected = leaf.done ? undefined : leaf.value;
      let hash: Hash | undefined;
      if (event.type === TOMBSTONE_EVENT_TYPE) {
        // Removed by retention: its row keeps the original's leaf hash. One removed before the tree
        // reached it (a tree started over an old log) was never a leaf: passed over.
        if (!expected || BigInt(expected.commit_position) !== position) continue;
        const kept = (JSON.parse(event.data) as TombstoneData).leafHash;
        hash = kept === undefined ? expected.hash : Buffer.from(kept, 'base64');
        if (kept === undefined) unverifiable += 1;
      } else {
        try {
          hash = eventLeafHash({ position: { commit: position, prepare: position }, streamName: event.stream_name, revision: event.revision, type: event.type, data: JSON.parse(event.data), metadata: JSON.parse(event.metadata) });
        } catch {
          firstDifference ??= { position: String(event.position), reason: 'the event is not valid JSON' };
          break;
        }
      }
      if (expected && firstDifference === undefined) {
        if (BigInt(expected.commit_position) !== position) {
          const missing = BigInt(expected.commit_position) < position;
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
      await checkHeadsAt(frontier.size);
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
    for (const iterator of open) iterator.return?.();
    events.close();
    ledger.close();
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
