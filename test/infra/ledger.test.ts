import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import { verifyConsistency, verifyInclusion } from '../../src/domain/ledger/merkle.js';
import { LedgerBuilder } from '../../src/infra/ledger/ledger-builder.js';
import { SqliteMerkleTree } from '../../src/infra/ledger/sqlite-merkle-tree.js';
import { createLogger } from '../../src/infra/logger.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { RecordedEvent } from '../../src/ports/event-store.js';
import { testEvent } from '../support/events.js';
import { tempDir } from '../support/temp.js';

// Independent of the code under test: the leaf bytes and MTH written out from RFC 8785 and RFC 9162.
const sha = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const leaf = (e: RecordedEvent) =>
  sha(
    Buffer.from([0]),
    Buffer.from(
      canonicalize({ position: `${e.position.commit}/${e.position.prepare}`, stream: e.streamName, revision: e.revision, type: e.type, data: e.data, metadata: e.metadata })!,
    ),
  );
const mth = (d: Buffer[]): Buffer => {
  if (d.length === 1) return d[0]!;
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return sha(Buffer.from([1]), mth(d.slice(0, k)), mth(d.slice(k)));
};

describe('the ledger: a Merkle tree beside the log', () => {
  const dir = tempDir();
  after(() => dir.remove());
  const logger = createLogger('silent');

  test('every event becomes a leaf in log order; roots and proofs match the RFC; a restart resumes without a duplicate', async () => {
    const events = new SqliteEventStore(join(dir.path, 'events.sqlite'));
    let tree = new SqliteMerkleTree(join(dir.path, 'ledger.sqlite'));
    let builder = new LedgerBuilder(events, tree, logger);
    builder.start();
    for (let i = 0; i < 25; i++) await events.appendToStream(`thing-${i % 4}`, [testEvent('thing.happened', { i, name: `n${i}` })], { expectedRevision: 'any' });
    assert.ok(await builder.waitFor(await events.headPosition(), 5000));
    await builder.stop();
    tree.close();

    tree = new SqliteMerkleTree(join(dir.path, 'ledger.sqlite'));
    builder = new LedgerBuilder(events, tree, logger);
    builder.start();
    await Promise.all(Array.from({ length: 12 }, (_, i) => events.appendToStream(`other-${i}`, [testEvent('other.happened', { i })], { expectedRevision: 'no_stream' })));
    assert.ok(await builder.waitFor(await events.headPosition(), 5000));

    const all = await events.readAll();
    assert.equal(tree.size(), all.length);
    const leaves = all.map(leaf);
    for (const size of [1, 2, 7, 25, 26, all.length]) assert.deepEqual(tree.root(size), mth(leaves.slice(0, size)), `root at ${size}`);
    for (const [index, event] of all.entries()) {
      assert.equal(tree.leafIndexOf(event.position), index);
      assert.ok(verifyInclusion(leaves[index]!, index, all.length, tree.inclusionProof(index, all.length), mth(leaves)));
    }
    assert.ok(verifyConsistency(25, all.length, tree.consistencyProof(25, all.length), mth(leaves.slice(0, 25)), mth(leaves)));
    assert.throws(() => tree.root(all.length + 1), RangeError);
    await builder.stop();
    tree.close();
    await events.close();
  });
});
