import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { toErrorResponse } from '../../src/api/http/errors.js';
import { handleCommand, TRANSIENT_RETRIES } from '../../src/commands/pipeline.js';
import { createOrganization, organizationDecider } from '../../src/domain/organization/decider.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { EventStore } from '../../src/ports/event-store.js';
import { tempDir } from '../support/temp.js';

const meta: CommandMetadata = { now: new Date(), actor: { subject: 'alice', kind: 'user' }, correlationId: 'c', causationId: 'c' };
const details = (name: string) => ({ organizationId: 'o1', name, tags: [], spec: { organizationType: 'adhoc' as const } });

/** Errors shaped as the client libraries throw them (no server for either runs here). */
class EsdbError extends Error {
  constructor(readonly type: string) {
    super(`${type}: from @eventstore/db-client`);
  }
}
class MongoServerSelectionError extends Error {
  override readonly name = 'MongoServerSelectionError';
}

/** The real SQLite store, whose next `failures` appends throw `error` first. */
function failingAppends(store: SqliteEventStore, failures: number, error: () => Error): EventStore {
  let left = failures;
  return Object.assign(Object.create(store) as EventStore, {
    appendToStream: (...args: Parameters<EventStore['appendToStream']>) => {
      if (left-- > 0) return Promise.reject(error());
      return store.appendToStream(...args);
    },
  });
}

describe('command pipeline: transient store errors', () => {
  test('an append the event store did not carry out (unavailable, not leader) is run again, and succeeds', async () => {
    const dir = tempDir();
    const store = new SqliteEventStore(join(dir.path, 'events.sqlite'));
    try {
      const flaky = failingAppends(store, 2, () => new EsdbError('not-leader'));
      const result = await handleCommand(flaky, 'organization-o1', organizationDecider, (s) => createOrganization(s, details('acme')), meta);
      assert.equal(result.state.status, 'active');
      assert.equal((await store.readStream('organization-o1')).length, 1, 'appended once');
    } finally {
      await store.close();
      dir.remove();
    }
  });

  test('one that outlasts the retries, or that may have had an effect (deadline exceeded), is a 503 with Retry-After, never a 500', async () => {
    const dir = tempDir();
    const store = new SqliteEventStore(join(dir.path, 'events.sqlite'));
    try {
      for (const [failures, error] of [
        [TRANSIENT_RETRIES + 1, () => new EsdbError('unavailable')],
        [1, () => new EsdbError('deadline-exceeded')],
      ] as const) {
        const flaky = failingAppends(store, failures, error);
        const thrown = await handleCommand(flaky, 'organization-o2', organizationDecider, (s) => createOrganization(s, details('other')), meta).catch((e: unknown) => e);
        const response = toErrorResponse(thrown);
        assert.equal(response.status, 503);
        assert.equal(response.body.error, 'temporarily_unavailable');
        assert.equal(response.headers['Retry-After'], '1');
      }
      assert.equal(toErrorResponse(new MongoServerSelectionError('no primary')).status, 503, 'the read-model database too');
      assert.equal(toErrorResponse(new Error('a bug')).status, 500, 'anything else stays a 500, its details hidden');
    } finally {
      await store.close();
      dir.remove();
    }
  });
});
