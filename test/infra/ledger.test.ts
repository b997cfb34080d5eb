import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import { verifyConsistency, verifyInclusion } from '../../src/domain/ledger/merkle.js';
import { LedgerBuilder } from '../../src/infra/ledger/ledger-builder.js';
import { SqliteMerkleTree } from '../../src/infra/ledger/sqlite-merkle-tree.js';
import { createLogger } from '../../src/infra/logger.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { EventStore, RecordedEvent } from '../../src/ports/event-store.js';
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
  test('an event holding a lone surrogate (RFC 8785 has no form for it) still becomes a leaf: the tree goes on past it, and the leaf is its text as JSON.stringify escapes it', async () => {
    // Whatever reached the log (an older version, a claim from a JWT, a direct write) must not stop the tree for every tenant.
    const events = new SqliteEventStore(join(dir.path, 'surrogate-events.sqlite'));
    const tree = new SqliteMerkleTree(join(dir.path, 'surrogate-ledger.sqlite'));
    const builder = new LedgerBuilder(events, tree, logger);
    builder.start();
    try {
      await events.appendToStream('thing-a', [testEvent('thing.happened', { name: 'before' })], { expectedRevision: 'any' });
      await events.appendToStream('thing-a', [testEvent('thing.happened', { name: 'lone \ud800 high', ['key \udc00']: 'lone low' })], { expectedRevision: 'any' });
      await events.appendToStream('thing-a', [testEvent('thing.happened', { name: 'after' })], { expectedRevision: 'any' });
      assert.ok(await builder.waitFor(await events.headPosition(), 5000), 'the tree reached the newest event');
      const all = await events.readAll();
      assert.equal(tree.size(), 3);
      const odd = all[1]!;
      assert.equal((odd.data as { name: string }).name, 'lone \ud800 high');
      const text = JSON.stringify({ data: odd.data, metadata: odd.metadata, position: `${odd.position.commit}/${odd.position.prepare}`, revision: odd.revision, stream: odd.streamName, type: odd.type }, (_key, value: unknown) =>
        value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, (value as Record<string, unknown>)[k]])) : value,
      );
      assert.ok(text.includes('lone \\ud800 high') && text.includes('"key \\udc00"'), text);
      assert.deepEqual(tree.leaf(1), sha(Buffer.from([0]), Buffer.from(text, 'utf8')));
      for (const index of [0, 2]) assert.deepEqual(tree.leaf(index), leaf(all[index]!));
    } finally {
      await builder.stop();
      tree.close();
      await events.close();
    }
  });

  test('a stop during a first catch-up over a long log ends it after the current batch; a restart resumes to the same tree', async () => {
    const events = new SqliteEventStore(join(dir.path, 'long.sqlite'));
    // Many appends in one turn go to the log in one transaction: 60,000 events, 30 of the worker's batches.
    for (let round = 0; round < 6; round++) {
      await Promise.all(Array.from({ length: 10_000 }, (_, i) => events.appendToStream(`long-${round}-${i}`, [testEvent('thing.happened', { i })], { expectedRevision: 'no_stream' })));
    }
    const head = await events.headPosition();
    const file = join(dir.path, 'long-ledger.sqlite');
    let tree = new SqliteMerkleTree(file);
    let builder = new LedgerBuilder(events, tree, logger);
    builder.start();
    await builder.waitFor({ commit: 1n, prepare: 1n }, 5000);
    await builder.stop();
    tree.close();
    tree = new SqliteMerkleTree(file);
    const stoppedAt = tree.size();
    assert.ok(stoppedAt < 60_000, `stopped after ${stoppedAt} leaves, not at the end of the catch-up`);

    builder = new LedgerBuilder(events, tree, logger);
    builder.start();
    try {
      assert.ok(await builder.waitFor(head, 30_000));
      const leaves = (await events.readAll({ maxCount: 100_000 })).map(leaf);
      assert.equal(leaves.length, 60_000);
      assert.equal(tree.size(), 60_000);
      assert.deepEqual(tree.root(), mth(leaves));
    } finally {
      await builder.stop();
      tree.close();
      await events.close();
    }
  });

  test('a tail lost from ledger.sqlite (a power loss: it commits with synchronous=NORMAL) is added again: same leaves, and a head signed before still matches', async () => {
    const events = new SqliteEventStore(join(dir.path, 'tail-events.sqlite'));
    const file = join(dir.path, 'tail-ledger.sqlite');
    const build = async (appends: number, from: number) => {
      const tree = new SqliteMerkleTree(file);
      const builder = new LedgerBuilder(events, tree, logger);
      builder.start();
      for (let i = from; i < from + appends; i++) await events.appendToStream(`tail-${i % 3}`, [testEvent('thing.happened', { i })], { expectedRevision: 'any' });
      assert.ok(await builder.waitFor(await events.headPosition(), 5000));
      const size = tree.size();
      await builder.stop();
      tree.close(); // the WAL checkpointed into the file
      return size;
    };
    assert.equal(await build(20, 0), 20);
    const onDisk = readFileSync(file); // what had reached the disk
    const head = mth((await events.readAll()).map(leaf)); // the root a head signed then holds
    assert.equal(await build(15, 20), 35);
    // The power loss: the leaves committed after that never reached the disk (the log's events did: it commits with FULL).
    for (const suffix of ['-wal', '-shm']) rmSync(file + suffix, { force: true });
    writeFileSync(file, onDisk);
    const tree = new SqliteMerkleTree(file);
    assert.equal(tree.size(), 20, 'the tail is gone');
    const builder = new LedgerBuilder(events, tree, logger);
    builder.start();
    assert.ok(await builder.waitFor(await events.headPosition(), 5000));
    const leaves = (await events.readAll()).map(leaf);
    assert.equal(tree.size(), 35);
    assert.deepEqual(tree.root(35), mth(leaves));
    assert.deepEqual(tree.root(20), head);
    assert.ok(verifyConsistency(20, 35, tree.consistencyProof(20, 35), head, mth(leaves)));
    await builder.stop();
    tree.close();
    await events.close();
  });
  test('the worker builds the same tree whether it reads the file or is sent the events, as the main thread does, and leaves the main thread only reading', async () => {
    const events = new SqliteEventStore(join(dir.path, 'sources.sqlite'));
    for (let i = 0; i < 30; i++) await events.appendToStream(`src-${i % 3}`, [testEvent('thing.happened', { i, name: `n${i}` })], { expectedRevision: 'any' });
    // Not the SQLite adapter itself (as an EventStoreDB log): the builder forwards the events to the worker.
    const forwarded: EventStore = {
      appendToStream: (...args) => events.appendToStream(...args),
      readStream: (...args) => events.readStream(...args),
      readAll: (...args) => events.readAll(...args),
      subscribeToAll: (...args) => events.subscribeToAll(...args),
      headPosition: () => events.headPosition(),
      close: async () => {},
    } as EventStore;
    const build = async (name: string, store: EventStore, thread: 'worker' | 'main') => {
      const tree = new SqliteMerkleTree(join(dir.path, `${name}.sqlite`));
      const builder = new LedgerBuilder(store, tree, logger, { thread });
      builder.start();
      // Appends while it runs, as well as the catch-up.
      for (let i = 0; i < 10; i++) await events.appendToStream(`late-${name}`, [testEvent('thing.happened', { i })], { expectedRevision: 'any' });
      const head = await events.headPosition();
      assert.ok(await builder.waitFor(head, 5000), `${name} caught up`);
      const size = tree.size();
      await builder.stop();
      const reopened = new SqliteMerkleTree(tree.filename);
      assert.equal(reopened.size(), size, `${name}: the size this thread learnt is the file's`);
      tree.close();
      return reopened;
    };
    const fromFile = await build('from-file', events, 'worker');
    const fromMessages = await build('from-messages', forwarded, 'worker');
    const onMain = await build('on-main', events, 'main');
    const all = await events.readAll();
    const leaves = all.map(leaf);
    for (const tree of [fromFile, fromMessages, onMain]) {
      // Each tree was built up to the head of its own time: compare on the common prefix, against the RFC.
      assert.ok(tree.size() >= 40);
      assert.deepEqual(tree.root(), mth(leaves.slice(0, tree.size())), tree.filename);
      tree.close();
    }
    await events.close();
  });
});
