import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';

/** The tree's leaves of a range of the log, read-only (another thread's reader of ledger.sqlite). */
export interface LeafReader {
  /** The leaf hash (base64) of each event of the tree between the positions (inclusive), keyed `commit/prepare`. */
  base64Between(low: bigint, high: bigint): Map<string, string>;
  close(): void;
}

/**
 * Opens ledger.sqlite read-only (the ledger's worker writes it; WAL lets this
 * read beside it). Undefined when the file does not exist yet: the reader's
 * user then computes what it needs itself.
 */
export function openLeafReader(file: string): LeafReader | undefined {
  if (!existsSync(file)) return undefined;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    db.defaultSafeIntegers(false);
    // CROSS JOIN: the positions' index first, then one node per leaf (as SqliteMerkleTree reads them).
    const range = db.prepare<[bigint, bigint], { c: number; p: number; hash: Buffer }>(
      `SELECT l.commit_position AS c, l.prepare_position AS p, n.hash AS hash FROM merkle_leaves l
       CROSS JOIN merkle_nodes n ON n.level = 0 AND n.idx = l.leaf_index
       WHERE l.commit_position BETWEEN ? AND ?`,
    );
    return {
      base64Between: (low, high) => new Map(range.all(low, high).map((row) => [`${row.c}/${row.p}`, row.hash.toString('base64')])),
      close: () => db.close(),
    };
  } catch {
    // A file without the tree's tables yet (made by another process a moment ago): nothing to read.
    db.close();
    return undefined;
  }
}
