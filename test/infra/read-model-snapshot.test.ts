import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import { READ_MODEL_SNAPSHOT_FILE, ReadModelSnapshots } from '../../src/infra/memory/read-model-snapshot.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { comparePositions, parsePosition, positionToString } from '../../src/ports/event-store.js';
import { defineProjection, type Projection } from '../../src/projections/projection.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { testEvent } from '../support/events.js';
import { tempDir } from '../support/temp.js';

/**
 * The snapshot is a consistent cut: taken between two events, never in the
 * middle of one, with the position of the last event every document saw.
 */
const logger = pino({ level: 'silent' });

let gate: Promise<void> | undefined;
let entered: (() => void) | undefined;

/** Each event writes two documents, with a pause between them when the test holds the gate. */
const pairs: Projection = defineProjection({
  name: 'pairs',
  collection: 'pairs',
  indexes: [{ fields: ['id'] }],
  handlers: {
    'pair.happened': async (event, docs) => {
      const { id } = event.data as { id: string };
      await docs.update(`${id}-a`, () => ({ _id: `${id}-a`, id }));
      if (gate) {
        entered?.();
        await gate;
      }
      await docs.update(`${id}-b`, () => ({ _id: `${id}-b`, id }));
    },
  },
});

function readSnapshot(path: string): { header: { position: string; projections: Array<{ version: number }> }; documents: Array<{ _id: string; _position: string }> } {
  const lines = gunzipSync(readFileSync(path)).toString('utf8').trim().split('\n').map((line) => JSON.parse(line));
  return { header: lines[0], documents: lines.filter((line) => typeof line._id === 'string') };
}

describe('read-model snapshot: a consistent cut', () => {
  const dir = tempDir();
  const path = join(dir.path, READ_MODEL_SNAPSHOT_FILE);
  const events = new SqliteEventStore(join(dir.path, 'events.sqlite'));
  const runners: ProjectionRunner[] = [];
  after(async () => {
    for (const runner of runners) await runner.stop();
    await events.close();
    dir.remove();
  });

  const start = async (projection: Projection) => {
    const store = new MemoryReadModelStore();
    const snapshots = new ReadModelSnapshots({ path, store, events, projections: [projection], logger });
    const runner = new ProjectionRunner(events, store, [projection], logger, snapshots);
    runners.push(runner);
    await runner.start();
    assert.ok(await runner.waitFor(await events.headPosition(), 10_000));
    return { store, snapshots, runner };
  };

  test('a save asked for while an event is half applied waits for the end of it', async () => {
    await events.appendToStream('pair-one', [testEvent('pair.happened', { id: 'one' })], { expectedRevision: 'no_stream' });
    const { snapshots, runner } = await start(pairs);

    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    const halfway = new Promise<void>((resolve) => (entered = resolve));
    const second = await events.appendToStream('pair-two', [testEvent('pair.happened', { id: 'two' })], { expectedRevision: 'no_stream' });
    await halfway; // two-a is written, two-b not yet
    const saving = snapshots.save(runner);
    for (let i = 0; i < 5; i++) await nextTurn();
    release();
    gate = undefined;
    assert.equal(await saving, true);

    const { header, documents } = readSnapshot(path);
    assert.equal(header.position, positionToString(second.position), 'the cut is after the whole event');
    assert.deepEqual(documents.map((d) => d._id).sort(), ['one-a', 'one-b', 'two-a', 'two-b']);
    for (const doc of documents) assert.ok(comparePositions(parsePosition(doc._position), parsePosition(header.position)) <= 0, 'no document past the cut');
  });

  test('a restart restores the cut and applies nothing; another projection version folds everything again', async () => {
    for (const runner of runners.splice(0)) await runner.stop();
    const { store, runner } = await start(pairs);
    assert.equal(runner.status().snapshot?.restored, true, JSON.stringify(runner.status()));
    assert.equal(runner.status().replayedEvents, 0);
    assert.equal(await store.collection('pairs').count({}), 4);
    assert.equal((await store.collection('pairs').find({ id: 'two' })).length, 2, 'indexes rebuilt on load');

    const changed = await start({ ...pairs, version: 2 });
    assert.equal(changed.runner.status().snapshot?.restored, false);
    assert.match(changed.runner.status().snapshot?.reason ?? '', /projections changed since the snapshot \(pairs\)/);
    assert.equal(changed.runner.status().replayedEvents, 2);
    assert.equal(await changed.store.collection('pairs').count({}), 4);
  });
});
