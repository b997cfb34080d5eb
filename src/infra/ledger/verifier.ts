import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { TOMBSTONE_EVENT_TYPE, type TombstoneData } from '../../domain/retention.js';
import { eventLeafHash } from '../../domain/ledger/leaf.js';
import { type Hash, nodeHash } from '../../domain/ledger/merkle.js';

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
        let signature = false;
        if (verifyKey) {
          try {
            const { payload } = await jwtVerify(head.signature, verifyKey, { typ: 'tree-head+jwt' });
            signature = payload['tree_size'] === head.treeSize && payload['root_hash'] === head.rootHash;
          } catch {
            signature = false;
          }
        }
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

