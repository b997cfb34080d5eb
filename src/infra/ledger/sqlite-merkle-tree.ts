import type Database from 'better-sqlite3';
import { eventLeafHash } from '../../domain/ledger/leaf.js';
import { completedSubtrees, consistencyProof, type Hash, inclusionProof, rootHash, type SubtreeSource } from '../../domain/ledger/merkle.js';
import { denseRange, type GlobalPosition, positionToString, type RecordedEvent } from '../../ports/event-store.js';
import { openDatabase } from '../sqlite/open-database.js';

/** Positions per query when reading many leaf hashes at once. */
const LEAF_BATCH = 500;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS merkle_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS merkle_leaves (
    leaf_index INTEGER PRIMARY KEY,
    commit_position  INTEGER NOT NULL,
    prepare_position INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX IF NOT EXISTS merkle_leaves_by_position ON merkle_leaves (commit_position, prepare_position);
  CREATE TABLE IF NOT EXISTS tree_heads (
    tree_size INTEGER PRIMARY KEY,
    root_hash BLOB    NOT NULL,
    timestamp INTEGER NOT NULL,
    signature TEXT    NOT NULL
  );
`;

/** A signed tree head: the tree's size and root at a moment, signed as a JWS by the service's key. */
export interface TreeHead {
  readonly treeSize: number;
  readonly rootHash: Hash;
  /** Milliseconds since the epoch (RFC 6962's timestamp). */
  readonly timestamp: number;
  /** The compact JWS over { tree_size, root_hash, timestamp }. */
  readonly signature: string;
}

interface TreeHeadRow {
  tree_size: number;
  root_hash: Buffer;
  timestamp: number;
  signature: string;
}

const toHead = (row: TreeHeadRow): TreeHead => ({ treeSize: row.tree_size, rootHash: row.root_hash, timestamp: row.timestamp, signature: row.signature });

/**
 * The Merkle tree of the log (src/domain/ledger/merkle.ts), kept in the
 * service's own SQLite file beside the log: every complete subtree's hash
 * (about two per event, 32 bytes each) and which global position each leaf
 * is. A root or a proof at any size reads O(log n) rows; appending a leaf
 * writes one row per subtree it completes (two on average).
 */
export class SqliteMerkleTree {
  private readonly db: Database.Database;
  private readonly statements: {
    node: Database.Statement<[number, number], { hash: Buffer }>;
    putNode: Database.Statement<[number, number, Buffer]>;
    putLeaf: Database.Statement<[number, bigint, bigint]>;
    size: Database.Statement<[], { size: number | null }>;
    last: Database.Statement<[], { commit_position: number | bigint; prepare_position: number | bigint }>;
    byPosition: Database.Statement<[bigint, bigint], { leaf_index: number }>;
    leafRange: Database.Statement<[bigint, bigint], { c: number | bigint; p: number | bigint; hash: Buffer }>;
    positionOf: Database.Statement<[number], { commit_position: number | bigint; prepare_position: number | bigint }>;
    putHead: Database.Statement<[number, Buffer, number, string]>;
    latestHead: Database.Statement<[], TreeHeadRow>;
  };
  private cachedSize: number;
  /** The newest complete subtree of each level, by level. */
  private edge: Array<{ index: number; hash: Hash } | undefined> = [];

  /** As asked at construction (the ledger's worker thread opens the file the same way). */
  readonly synchronous: 'FULL' | 'NORMAL' | undefined;

  constructor(readonly filename: string, options: { synchronous?: 'FULL' | 'NORMAL' } = {}) {
    this.synchronous = options.synchronous;
    // NORMAL (WAL): a commit does not wait for fsync, so the builder no longer blocks the event loop (and the
    // log's own durable commits) on a second fsync per batch (bench:ledger, docs/benchmarks.md). A power loss
    // can only take the newest leaves (and a saved head's row) away, never leave the file inconsistent; the
    // tree is derived from the log, which is durable, and its checkpoint is its last leaf, so the builder adds
    // the same leaves again and every head already signed still matches. The tree is never ahead of the log.
    this.db = openDatabase(filename, { synchronous: options.synchronous ?? 'NORMAL', schema: SCHEMA });
    this.statements = {
      node: this.db.prepare('SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?'),
      putNode: this.db.prepare('INSERT OR REPLACE INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)'),
      putLeaf: this.db.prepare('INSERT INTO merkle_leaves (leaf_index, commit_position, prepare_position) VALUES (?, ?, ?)'),
      size: this.db.prepare('SELECT MAX(leaf_index) + 1 AS size FROM merkle_leaves'),
      last: this.db.prepare('SELECT commit_position, prepare_position FROM merkle_leaves ORDER BY leaf_index DESC LIMIT 1'),
      byPosition: this.db.prepare('SELECT leaf_index FROM merkle_leaves WHERE commit_position = ? AND prepare_position = ?'),
      // CROSS JOIN: the positions' index first, as in leafBatch.
      leafRange: this.db.prepare(
        `SELECT l.commit_position AS c, l.prepare_position AS p, n.hash AS hash FROM merkle_leaves l
         CROSS JOIN merkle_nodes n ON n.level = 0 AND n.idx = l.leaf_index
         WHERE l.commit_position BETWEEN ? AND ? ORDER BY l.commit_position`,
      ),
      positionOf: this.db.prepare('SELECT commit_position, prepare_position FROM merkle_leaves WHERE leaf_index = ?'),
      putHead: this.db.prepare('INSERT OR IGNORE INTO tree_heads (tree_size, root_hash, timestamp, signature) VALUES (?, ?, ?, ?)'),
      latestHead: this.db.prepare('SELECT * FROM tree_heads ORDER BY tree_size DESC LIMIT 1'),
    };
    this.cachedSize = this.statements.size.get()?.size ?? 0;
  }

  private readonly source: SubtreeSource = (level, index) => {
    const row = this.statements.node.get(level, index);
    if (!row) throw new Error(`the Merkle tree has no complete subtree ${level}/${index}`);
    return row.hash;
  };

  /** Leaves in the tree. */
  size(): number {
    return this.cachedSize;
  }

  /**
   * Another connection (the builder's worker thread) added leaves up to `size`, committed: this one
   * reads the file, so only the size it answers from memory moves (and the right edge, which it no
   * longer keeps, is forgotten).
   */
  grewTo(size: number): void {
    if (size <= this.cachedSize) return;
    this.cachedSize = size;
    this.edge = [];
  }

  /** The position of the newest leaf: where the builder resumes. */
  checkpoint(): GlobalPosition | undefined {
    const row = this.statements.last.get();
    return row ? { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position) } : undefined;
  }

  /** Append events as leaves, in one transaction; events at or below the newest leaf are skipped (re-delivery). */
  append(events: readonly RecordedEvent[]): void {
    if (events.length === 0) return;
    const last = this.checkpoint();
    // The left siblings a new leaf completes are the newest complete subtree of each level: kept in memory
    // (the right edge), read from the file only after a start or a failed write.
    const edge = this.edge;
    const sibling: SubtreeSource = (level, index) => {
      const known = edge[level];
      return known && known.index === index ? known.hash : this.source(level, index);
    };
    const write = this.db.transaction(() => {
      let size = this.cachedSize;
      for (const event of events) {
        if (last && (event.position.commit < last.commit || (event.position.commit === last.commit && event.position.prepare <= last.prepare))) continue;
        for (const node of completedSubtrees(sibling, size, eventLeafHash(event))) {
          this.statements.putNode.run(node.level, node.index, node.hash);
          edge[node.level] = { index: node.index, hash: node.hash };
        }
        this.statements.putLeaf.run(size, event.position.commit, event.position.prepare);
        size += 1;
      }
      return size;
    });
    try {
      this.cachedSize = write();
    } catch (error) {
      this.edge = [];
      throw error;
    }
  }

  root(size = this.cachedSize): Hash {
    this.assertSize(size);
    return rootHash(this.source, size);
  }

  leaf(index: number): Hash {
    return this.source(0, index);
  }

  /**
   * The leaf hashes of many events at once (a page of audit entries), keyed by
   * `commit/prepare`: one query per 500 positions instead of two per event.
   * Positions not in the tree yet are absent.
   */
  leafHashesAt(positions: readonly GlobalPosition[]): Map<string, Hash> {
    const found = new Map<string, Hash>();
    if (positions.length === 0) return found;
    // Dense positions (an export of the whole log): one range of the positions' index, in order,
    // instead of one seek per bound parameter; leaves not asked for are left out.
    const range = denseRange(positions);
    if (range) {
      const wanted = range.exact ? undefined : new Set(positions.map(positionToString));
      for (const row of this.statements.leafRange.all(range.low, range.high)) {
        const key = `${row.c}/${row.p}`;
        if (wanted === undefined || wanted.has(key)) found.set(key, row.hash);
      }
      return found;
    }
    for (let start = 0; start < positions.length; start += LEAF_BATCH) {
      const chunk = positions.slice(start, start + LEAF_BATCH);
      const rows = this.leafBatch(chunk.length).all(...chunk.map((p) => p.commit)) as Array<{ c: number | bigint; p: number | bigint; hash: Buffer }>;
      for (const row of rows) found.set(`${row.c}/${row.p}`, row.hash);
    }
    return found;
  }

  private readonly leafBatches = new Map<number, Database.Statement>();
  private leafBatch(size: number): Database.Statement {
    let statement = this.leafBatches.get(size);
    if (!statement) {
      statement = this.db.prepare(
        // CROSS JOIN: SQLite keeps this order (the positions' index first, then one node lookup per leaf);
        // left to itself it may walk every leaf node instead.
        `SELECT l.commit_position AS c, l.prepare_position AS p, n.hash AS hash FROM merkle_leaves l
         CROSS JOIN merkle_nodes n ON n.level = 0 AND n.idx = l.leaf_index
         WHERE l.commit_position IN (${Array.from({ length: size }, () => '?').join(',')})`,
      );
      // Only the full batch and the last, shorter one of a read are worth keeping.
      if (size === LEAF_BATCH || this.leafBatches.size < 8) this.leafBatches.set(size, statement);
    }
    return statement;
  }

  leafIndexOf(position: GlobalPosition): number | undefined {
    return this.statements.byPosition.get(position.commit, position.prepare)?.leaf_index;
  }

  positionOf(index: number): GlobalPosition | undefined {
    const row = this.statements.positionOf.get(index);
    return row ? { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position) } : undefined;
  }

  inclusionProof(index: number, size: number): Hash[] {
    this.assertSize(size);
    return inclusionProof(this.source, index, size);
  }

  consistencyProof(first: number, second: number): Hash[] {
    this.assertSize(second);
    return consistencyProof(this.source, first, second);
  }

  saveHead(head: TreeHead): void {
    this.statements.putHead.run(head.treeSize, head.rootHash, head.timestamp, head.signature);
  }

  latestHead(): TreeHead | undefined {
    const row = this.statements.latestHead.get();
    return row ? toHead(row) : undefined;
  }

  private assertSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.cachedSize) throw new RangeError(`the tree has ${this.cachedSize} leaves, not ${size}`);
  }

  close(): void {
    this.db.close();
  }
}
