import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { OrganizationCommands } from '../../src/commands/organization/handlers.js';
import { toNewEvent } from '../../src/commands/pipeline.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { FIRST_TENANT_NUMBER, TENANT_NUMBERS_STREAM, type TenantNumberEvent } from '../../src/domain/tenancy/decider.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { EventStore, ReadStreamOptions, RecordedEvent } from '../../src/ports/event-store.js';
import { tempDir } from '../support/temp.js';

const meta: CommandMetadata = { now: new Date('2026-01-02T03:04:05.000Z'), actor: { subject: 'platform', kind: 'user' }, correlationId: 'r', causationId: 'r' };

/** The real SQLite store, counting the events each stream's reads return. */
class CountingEventStore implements EventStore {
  readonly eventsRead = new Map<string, number>();
  constructor(private readonly inner: EventStore) {}
  appendToStream: EventStore['appendToStream'] = (...args) => this.inner.appendToStream(...args);
  async readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    const events = await this.inner.readStream(streamName, options);
    this.eventsRead.set(streamName, (this.eventsRead.get(streamName) ?? 0) + events.length);
    return events;
  }
  readAll: EventStore['readAll'] = (...args) => this.inner.readAll(...args);
  subscribeToAll: EventStore['subscribeToAll'] = (...args) => this.inner.subscribeToAll(...args);
  headPosition: EventStore['headPosition'] = () => this.inner.headPosition();
  close: EventStore['close'] = () => this.inner.close();
}

describe('the tenant-number counter (docs/compat.md)', () => {
  test('a draw reads the newest counter event only, however many organizations drew before (events of version 1 included)', async () => {
    const dir = tempDir();
    const store = new CountingEventStore(new SqliteEventStore(join(dir.path, 'events.sqlite')));
    try {
      // 3,000 organizations drew before, as the first version wrote it (the same event).
      const history = 3_000;
      for (let start = 0; start < history; start += 500) {
        const batch = Array.from({ length: 500 }, (_, i): TenantNumberEvent => ({ type: 'tenant_number.drawn', data: { organizationId: `old-${start + i}`, tenantId: FIRST_TENANT_NUMBER + start + i } }));
        await store.appendToStream(TENANT_NUMBERS_STREAM, batch.map((event) => toNewEvent(event, meta)), { expectedRevision: start === 0 ? 'no_stream' : start - 1 });
      }
      const commands = new OrganizationCommands(store);
      const tenantIdOf = (state: { status: string; tenantId?: number }) => (state.status === 'active' ? state.tenantId : undefined);
      const numbers: number[] = [];
      let lastId = '';
      for (let n = 0; n < 5; n++) {
        store.eventsRead.clear();
        const { state } = await commands.create({ name: `org-${n}`, tags: [], spec: { organizationType: 'adhoc' } }, meta);
        assert.equal(state.status, 'active');
        assert.equal(tenantIdOf(state as never), FIRST_TENANT_NUMBER + history + n, 'the next number after the history');
        numbers.push(tenantIdOf(state as never)!);
        lastId = (state as { id: string }).id;
        const read = store.eventsRead.get(TENANT_NUMBERS_STREAM) ?? 0;
        assert.ok(read <= 2, `the draw read ${read} counter events (of ${history + n})`);
      }
      assert.equal(new Set(numbers).size, numbers.length);

      // An organization that has its number draws nothing more (its own stream says so).
      const again = await commands.assignTenantNumber(lastId, meta);
      assert.equal(again.newEvents.length, 0);
      const [head] = await store.readStream(TENANT_NUMBERS_STREAM, { direction: 'backwards', maxCount: 1 });
      assert.equal(head!.revision, history + numbers.length - 1, 'one draw per organization');
    } finally {
      await store.close();
      dir.remove();
    }
  });
});
