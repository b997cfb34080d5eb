import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { handleCommand, loadState, toNewEvent } from '../../src/commands/pipeline.js';
import { createUser, updateUser, userDecider } from '../../src/domain/user/decider.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { createEventReader, UNREADABLE_EVENT_TYPE } from '../../src/domain/upcasting.js';
import { EvolvingEventStore } from '../../src/infra/events/evolving-event-store.js';
import { UnreadableEvents } from '../../src/infra/events/unreadable-events.js';
import { SqliteCheckpointStore } from '../../src/infra/sqlite/sqlite-checkpoint-store.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { ProcessManagerRunner } from '../../src/processes/process-manager.js';
import { pino } from 'pino';
import { eventually } from '../support/server.js';
import { firstSubscribed, testEvent } from '../support/events.js';
import { tempDir } from '../support/temp.js';

const meta: CommandMetadata = { now: new Date('2026-01-02T03:04:05.000Z'), actor: { subject: 'alice', kind: 'user' }, correlationId: 'r', causationId: 'r' };
const details = (name: string) => ({ userId: 'u1', organizationId: 'o1', name, tags: [], subject: 'u1@example.com', state: 'active' as const });

async function withStores(run: (raw: SqliteEventStore, store: EvolvingEventStore) => Promise<void>, reader?: ConstructorParameters<typeof EvolvingEventStore>[2]) {
  const dir = tempDir();
  const raw = new SqliteEventStore(join(dir.path, 'events.sqlite'));
  try {
    await run(raw, new EvolvingEventStore(raw, new UnreadableEvents(), reader));
  } finally {
    await raw.close();
    dir.remove();
  }
}

describe('the evolving event store (the read path every reader shares)', () => {
  test('new events are stamped with their type’s current schema version', async () => {
    const event = toNewEvent({ type: 'user.created', data: details('ada') }, meta);
    assert.equal(event.metadata.schemaVersion, 1);
  });

  test('an unknown type ending a stream: the fold passes over it, and the next append expects its revision', async () => {
    await withStores(async (raw, store) => {
      await handleCommand(store, 'user-u1', userDecider, (s) => createUser(s, details('ada')), meta);
      await raw.appendToStream('user-u1', [testEvent('user.nickname.changed', { userId: 'u1', nickname: 'A' })], { expectedRevision: 0 });
      const [read] = await store.readStream('user-u1', { direction: 'backwards', maxCount: 1 });
      assert.equal(read!.type, UNREADABLE_EVENT_TYPE);
      assert.equal(read!.revision, 1);
      assert.deepEqual(read!.data, { type: 'user.nickname.changed', schemaVersion: 1, problem: 'unknown_type', detail: 'this version does not know user.nickname.changed' });

      const result = await handleCommand(store, 'user-u1', userDecider, (s) => updateUser(s, details('ada-2')), meta);
      assert.equal(result.newEvents.length, 1);
      const types = (await raw.readStream('user-u1')).map((e) => [e.revision, e.type]);
      assert.deepEqual(types, [[0, 'user.created'], [1, 'user.nickname.changed'], [2, 'user.updated']]);
      const { state, revision } = await loadState(store, 'user-u1', userDecider);
      assert.equal(revision, 2);
      assert.equal(state.status === 'exists' && state.name, 'ada-2');
      // Found twice (two reads of the stream), counted once.
      assert.equal(store.unreadable.status().count, 1);
      assert.equal(store.unreadable.status().last?.streamName, 'user-u1');
    });
  });

  test('data that fails the schema is unreadable, not thrown; its data is not handed over', async () => {
    await withStores(async (raw, store) => {
      await raw.appendToStream('user-u2', [testEvent('user.created', { userId: 'u2', subject: 'secret-subject@example.com' })], { expectedRevision: 'no_stream' });
      const [event] = await store.readAll();
      assert.equal(event!.type, UNREADABLE_EVENT_TYPE);
      assert.equal((event!.data as { problem: string }).problem, 'invalid');
      assert.doesNotMatch(JSON.stringify(event!.data), /secret-subject/);
      const { state } = await loadState(store, 'user-u2', userDecider);
      assert.deepEqual(state, { status: 'absent' });
    });
  });

  test('subscribers get upcast events and placeholders in log order, one read shared by all of them', async () => {
    const reader = createEventReader({
      schemas: { 'thing.named': z.object({ name: z.string(), plural: z.boolean() }) },
      upcasters: { 'thing.named': [(data) => ({ ...(data as object), plural: false })] },
    });
    await withStores(async (raw, store) => {
      await raw.appendToStream('thing-1', [testEvent('thing.named', { name: 'old' }), { ...testEvent('thing.named', { name: 'new', plural: true }), metadata: { ...testEvent().metadata, schemaVersion: 2 } }], {
        expectedRevision: 'no_stream',
      });
      await raw.appendToStream('thing-2', [testEvent('thing.unheard-of', {})], { expectedRevision: 'no_stream' });
      const [first, second] = await Promise.all([firstSubscribed(store, 3), firstSubscribed(store, 3)]);
      assert.deepEqual(first.map((e) => [e.type, e.data]), [
        ['thing.named', { name: 'old', plural: false }],
        ['thing.named', { name: 'new', plural: true }],
        [UNREADABLE_EVENT_TYPE, { type: 'thing.unheard-of', schemaVersion: 1, problem: 'unknown_type', detail: 'this version does not know thing.unheard-of' }],
      ]);
      assert.equal(first[0]!.metadata.schemaVersion, 2);
      assert.deepEqual(second.map((e) => e.position), first.map((e) => e.position));
      assert.equal(store.unreadable.status().count, 1);
      assert.equal(store.unreadable.status().byProblem.unknown_type, 1);
    }, reader);
  });

  test('a process manager passes over what it cannot read, and its checkpoint moves past it', async () => {
    const reader = createEventReader({ schemas: { 'thing.happened': z.object({ n: z.string() }) }, upcasters: {} });
    await withStores(async (raw, store) => {
      const checkpoints = new SqliteCheckpointStore(raw.filename);
      const handled: string[] = [];
      const runner = new ProcessManagerRunner(
        { name: 'things', handlers: { 'thing.happened': async (event) => void handled.push(event.data.n) } },
        store,
        checkpoints,
        pino({ level: 'silent' }),
        { maxAttempts: 2, retryDelayMs: 5, checkpointIntervalMs: 10 },
      );
      await runner.start();
      for (const n of ['one', 5, 'three']) await raw.appendToStream('thing-1', [testEvent('thing.happened', { n })], { expectedRevision: 'any' });
      await eventually(async () => handled.length === 2);
      await runner.stop();
      assert.deepEqual(handled, ['one', 'three']);
      assert.equal(runner.skipped, 1);
      assert.equal((await checkpoints.load('things'))?.commit, (await raw.headPosition())?.commit);
      assert.equal(store.unreadable.status().byProblem.invalid, 1);
      await checkpoints.close();
    }, reader);
  });
});
