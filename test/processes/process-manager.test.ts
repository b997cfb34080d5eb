import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { ConcurrencyError, InvalidCommandError } from '../../src/domain/shared/errors.js';
import { SqliteCheckpointStore } from '../../src/infra/sqlite/sqlite-checkpoint-store.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { RecordedEvent } from '../../src/ports/event-store.js';
import { type ProcessDefinition, ProcessManagerRunner } from '../../src/processes/process-manager.js';
import { testEvent } from '../support/events.js';
import { withDroppingSubscriptions } from '../support/faults.js';
import { eventually } from '../support/server.js';
import { tempDir } from '../support/temp.js';

const logger = pino({ level: 'silent' });
const fast = { maxAttempts: 3, retryDelayMs: 5, checkpointIntervalMs: 10 };

async function withStores(run: (stores: { events: SqliteEventStore; checkpoints: SqliteCheckpointStore; file: string }) => Promise<void>) {
  const dir = tempDir();
  const file = join(dir.path, 'events.sqlite');
  const events = new SqliteEventStore(file);
  const checkpoints = new SqliteCheckpointStore(file);
  try {
    await run({ events, checkpoints, file });
  } finally {
    await events.close();
    await checkpoints.close();
    dir.remove();
  }
}

const append = (events: SqliteEventStore, stream: string, type: string, data: unknown = {}) =>
  events.appendToStream(stream, [testEvent(type, data)], { expectedRevision: 'any' });

describe('process manager runner', () => {
  test('retries a step that may pass, and moves on once it does', async () => {
    await withStores(async ({ events, checkpoints }) => {
      let attempts = 0;
      const handled: string[] = [];
      const definition: ProcessDefinition = {
        name: 'flaky',
        handlers: {
          'thing.happened': async (event) => {
            attempts++;
            if (attempts === 1) throw new Error('disk busy');
            if (attempts === 2) throw new ConcurrencyError('lost a race');
            handled.push(event.data.n);
          },
        },
        onFailure: async () => assert.fail('not a failure'),
      };
      const runner = new ProcessManagerRunner(definition, events, checkpoints, logger, fast);
      await runner.start();
      await append(events, 's-1', 'thing.happened', { n: 'one' });
      await append(events, 's-1', 'thing.happened', { n: 'two' });
      await eventually(async () => handled.length === 2);
      assert.deepEqual(handled, ['one', 'two']);
      assert.equal(attempts, 4);
      await runner.stop();
    });
  });

  test('a step that fails for good is recorded once through onFailure, and the process moves on', async () => {
    await withStores(async ({ events, checkpoints }) => {
      const failures: Array<{ n: string; reason: string }> = [];
      let permanentAttempts = 0;
      const handled: string[] = [];
      const definition: ProcessDefinition = {
        name: 'failing',
        handlers: {
          'thing.happened': async (event: RecordedEvent<string, { n: string }>) => {
            if (event.data.n === 'invalid') {
              permanentAttempts++;
              throw new InvalidCommandError('cannot be done');
            }
            if (event.data.n === 'broken') throw new Error('still broken');
            handled.push(event.data.n);
          },
        },
        onFailure: async (event, reason) => {
          failures.push({ n: event.data.n, reason });
        },
      };
      const runner = new ProcessManagerRunner(definition, events, checkpoints, logger, fast);
      await runner.start();
      for (const n of ['invalid', 'broken', 'fine']) await append(events, 's-1', 'thing.happened', { n });
      await eventually(async () => handled.length === 1);
      // A domain error is not retried; anything else is, up to the bound.
      assert.equal(permanentAttempts, 1);
      assert.deepEqual(failures, [
        { n: 'invalid', reason: 'InvalidCommandError: cannot be done' },
        { n: 'broken', reason: 'Error: still broken' },
      ]);
      await runner.stop();
    });
  });

  test('resumes after its checkpoint, and replays an event whose step did not finish when it stopped', async () => {
    await withStores(async ({ events, checkpoints }) => {
      const seen: string[] = [];
      let release: (() => void) | undefined;
      let aborted = false;
      const definition = (): ProcessDefinition => ({
        name: 'resumable',
        handlers: {
          'thing.happened': async (event, { signal }) => {
            if (event.data.n === 'slow' && !seen.includes('slow-started')) {
              seen.push('slow-started');
              // A long step: the service stops in the middle of it.
              await new Promise<void>((resolve, reject) => {
                release = resolve;
                signal.addEventListener('abort', () => {
                  aborted = true;
                  reject(new Error('stopping'));
                });
              });
            }
            seen.push(event.data.n);
          },
        },
      });
      const first = new ProcessManagerRunner(definition(), events, checkpoints, logger, fast);
      await first.start();
      await append(events, 's-1', 'thing.happened', { n: 'quick' });
      await append(events, 's-1', 'other.happened');
      await append(events, 's-1', 'thing.happened', { n: 'slow' });
      await eventually(async () => seen.includes('slow-started'));
      await first.stop();
      assert.ok(aborted, 'the step saw the stop');
      assert.ok(release, 'the step was running');
      assert.deepEqual(seen, ['quick', 'slow-started']);
      // The checkpoint is past "quick" and the event without a handler, not past "slow".
      const checkpoint = await checkpoints.load('resumable');
      const all = await events.readAll();
      assert.equal(checkpoint?.commit, all[1]!.position.commit);

      const second = new ProcessManagerRunner(definition(), events, checkpoints, logger, fast);
      await second.start();
      await append(events, 's-1', 'thing.happened', { n: 'later' });
      await eventually(async () => seen.includes('later'));
      assert.deepEqual(seen, ['quick', 'slow-started', 'slow', 'later']);
      await second.stop();
      assert.equal((await checkpoints.load('resumable'))?.commit, (await events.headPosition())?.commit);
    });
  });

  test('a dropped subscription is opened again from the last finished event; nothing is skipped or handled twice', async () => {
    await withStores(async ({ events, checkpoints }) => {
      const { wrapped, fault } = withDroppingSubscriptions(events);
      const handled: string[] = [];
      const definition: ProcessDefinition = { name: 'follower', handlers: { 'thing.happened': async (event) => void handled.push(event.data.n) } };
      const runner = new ProcessManagerRunner(definition, wrapped, checkpoints, logger, fast);
      await runner.start();
      await append(events, 's-2', 'thing.happened', { n: 'one' });
      await eventually(async () => handled.length === 1);
      fault.broken = true;
      await append(events, 's-2', 'thing.happened', { n: 'two' });
      await eventually(async () => fault.opened >= 2);
      fault.broken = false;
      await append(events, 's-2', 'thing.happened', { n: 'three' });
      await eventually(async () => handled.length === 3, 10_000);
      assert.deepEqual(handled, ['one', 'two', 'three']);
      await runner.stop();
    });
  });
});
