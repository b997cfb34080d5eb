import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  completedSubtrees,
  consistencyProof,
  EMPTY_ROOT,
  type Hash,
  inclusionProof,
  leafHash,
  rootHash,
  type SubtreeSource,
  verifyConsistency,
  verifyInclusion,
} from '../../src/domain/ledger/merkle.js';

// An independent implementation: the RFC 9162 definitions, written directly over arrays.
const sha = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const mth = (d: Buffer[]): Hash => {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Buffer.from([0]), d[0]!);
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return sha(Buffer.from([1]), mth(d.slice(0, k)), mth(d.slice(k)));
};
const path = (m: number, d: Buffer[]): Hash[] => {
  if (d.length <= 1) return [];
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
};
const subproof = (m: number, d: Buffer[], b: boolean): Hash[] => {
  if (m === d.length) return b ? [] : [mth(d)];
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return m <= k ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))] : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
};

/** A tree grown leaf by leaf the way the ledger grows it: only complete subtrees are kept. */
function grow(leaves: Buffer[]): SubtreeSource {
  const nodes = new Map<string, Hash>();
  const source: SubtreeSource = (level, index) => {
    const hash = nodes.get(`${level}/${index}`);
    if (!hash) throw new Error(`no complete subtree ${level}/${index}`);
    return hash;
  };
  leaves.forEach((leaf, index) => {
    for (const node of completedSubtrees(source, index, leafHash(leaf))) nodes.set(`${node.level}/${node.index}`, node.hash);
  });
  return source;
}

const leavesOf = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`event ${i}`));

describe('RFC 9162 Merkle tree', () => {
  const all = leavesOf(70);
  const source = grow(all);

  test('the root of every size is the RFC definition of MTH, from complete subtrees only', () => {
    assert.deepEqual(rootHash(source, 0), EMPTY_ROOT);
    for (let n = 1; n <= all.length; n++) assert.deepEqual(rootHash(source, n), mth(all.slice(0, n)), `size ${n}`);
  });

  test('inclusion proofs are the RFC PATH and verify; a wrong leaf, index or root does not', () => {
    for (let n = 1; n <= 40; n++) {
      const root = rootHash(source, n);
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(source, m, n);
        assert.deepEqual(proof, path(m, all.slice(0, n)), `PATH(${m}, ${n})`);
        assert.ok(verifyInclusion(leafHash(all[m]!), m, n, proof, root), `verify ${m} in ${n}`);
        assert.ok(!verifyInclusion(leafHash(Buffer.from('forged')), m, n, proof, root));
        if (n > 1) assert.ok(!verifyInclusion(leafHash(all[m]!), (m + 1) % n, n, proof, root));
      }
      assert.ok(!verifyInclusion(leafHash(all[0]!), 0, n, inclusionProof(source, 0, n), rootHash(source, n + 1)));
    }
    assert.throws(() => inclusionProof(source, 5, 5), RangeError);
  });

  test('consistency proofs are the RFC PROOF and verify; across a rewritten history they do not', () => {
    for (let n = 1; n <= 40; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(source, m, n);
        assert.deepEqual(proof, m === n ? [] : subproof(m, all.slice(0, n), true), `PROOF(${m}, ${n})`);
        assert.ok(verifyConsistency(m, n, proof, rootHash(source, m), rootHash(source, n)), `verify ${m} -> ${n}`);
      }
    }
    // History rewritten at leaf 3: the old tree head of size 10 is not a prefix of the new tree.
    const rewritten = [...all];
    rewritten[3] = Buffer.from('rewritten');
    const other = grow(rewritten);
    const proof = consistencyProof(other, 10, 20);
    assert.ok(!verifyConsistency(10, 20, proof, rootHash(source, 10), rootHash(other, 20)));
    assert.ok(!verifyConsistency(10, 20, consistencyProof(source, 10, 20), rootHash(source, 10), rootHash(other, 20)));
  });
});
