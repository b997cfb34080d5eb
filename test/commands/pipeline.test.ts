import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { eventIdV7, handleCommand, MAX_ATTEMPTS } from '../../src/commands/pipeline.js';
import { organizationDecider, createOrganization, updateOrganization } from '../../src/domain/organization/decider.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { ConcurrencyError } from '../../src/domain/shared/errors.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { EventStore } from '../../src/ports/event-store.js';
import { tempDir } from '../support/temp.js';

const meta: CommandMetadata = {
  now: new Date('2026-01-02T03:04:05.000Z'),
  actor: { subject: 'alice', kind: 'user' },
  correlationId: 'req-1',
  causationId: 'req-1',
};
const details = (name: string) => ({ organizationId: 'o1', name, tags: [], spec: { organizationType: 'adhoc' as const } });

async function withStore(run: (store: SqliteEventStore) => Promise<void>) {
  const dir = tempDir();
  const store = new SqliteEventStore(join(dir.path, 'events.sqlite'));
  try {
    await run(store);
  } finally {
    await store.close();
    dir.remove();
  }
}

describe('command pipeline', () => {
  test('appends the decided events with metadata from the command', async () => {
    await withStore(async (store) => {
      const result = await handleCommand(store, 'organization-o1', organizationDecider, (s) => createOrganization(s, details('acme')), meta);
      assert.equal(result.state.status, 'active');
      const [event] = await store.readStream('organization-o1');
      assert.equal(event!.type, 'organization.created');
      assert.equal(event!.metadata.occurredAt, '2026-01-02T03:04:05.000Z');
      assert.deepEqual(event!.metadata.actor, { subject: 'alice', kind: 'user' });
      assert.equal(event!.metadata.correlationId, 'req-1');
      assert.match(event!.metadata.eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/, 'a uuid v7');
    });
  });

  test('event ids are uuid v7: the millisecond time first, unique', () => {
    const now = Date.UTC(2026, 11, 7, 14, 0, 0, 123);
    const ids = Array.from({ length: 10_000 }, () => eventIdV7(now));
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids.slice(0, 100)) {
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), now);
    }
  });

  test('a command that decides nothing appends nothing', async () => {
    await withStore(async (store) => {
      await handleCommand(store, 'organization-o1', organizationDecider, (s) => createOrganization(s, details('acme')), meta);
      const result = await handleCommand(store, 'organization-o1', organizationDecider, (s) => updateOrganization(s, details('acme')), meta);
      assert.equal(result.newEvents.length, 0);
      assert.equal(result.position, undefined);
      assert.equal((await store.readStream('organization-o1')).length, 1);
    });
  });

  test('rejects events that do not match their schema, writing nothing', async () => {
    await withStore(async (store) => {
      await assert.rejects(
        handleCommand(store, 'organization-o1', organizationDecider, () => [{ type: 'organization.created', data: { organizationId: 'o1' } } as any], meta),
      );
      assert.equal((await store.readStream('organization-o1')).length, 0);
    });
  });

  test('on a concurrent write it decides again on the newer state', async () => {
    await withStore(async (store) => {
      await handleCommand(store, 'organization-o1', organizationDecider, (s) => createOrganization(s, details('acme')), meta);
      // 20 concurrent renames: each one reads, decides and appends; losers retry on the newer state.
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          handleCommand(store, 'organization-o1', organizationDecider, (s) => updateOrganization(s, details(`name-${i}`)), meta),
        ),
      );
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const conflicts = results.filter((r) => r.status === 'rejected' && r.reason instanceof ConcurrencyError).length;
      assert.equal(ok + conflicts, 20, 'nothing but successes and concurrency errors');
      assert.ok(ok >= 1);
      const history = await store.readStream('organization-o1');
      assert.equal(history.length, 1 + ok, 'one event per successful command');
    });
  });

  test(`gives up after ${MAX_ATTEMPTS} attempts with a ConcurrencyError`, async () => {
    await withStore(async (real) => {
      await handleCommand(real, 'organization-o1', organizationDecider, (s) => createOrganization(s, details('acme')), meta);
      let appends = 0;
      // Another writer slips in between every read and append.
      const store: EventStore = Object.create(real, {
        appendToStream: {
          value: async (...args: Parameters<EventStore['appendToStream']>) => {
            appends++;
            const [latest] = await real.readStream('organization-o1', { direction: 'backwards', maxCount: 1 });
            await real.appendToStream('organization-o1', [{ ...latest!, metadata: { ...latest!.metadata, eventId: crypto.randomUUID() } }], { expectedRevision: 'any' });
            return real.appendToStream(...args);
          },
        },
      });
      await assert.rejects(
        handleCommand(store, 'organization-o1', organizationDecider, (s) => updateOrganization(s, details('renamed')), meta),
        ConcurrencyError,
      );
      assert.equal(appends, MAX_ATTEMPTS);
    });
  });
});
