import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { OrganizationCommands } from '../../src/commands/organization/handlers.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { ORGANIZATIONS, organizationsProjection } from '../../src/projections/organizations/projection.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { withDroppingSubscriptions } from '../support/faults.js';
import { eventually } from '../support/server.js';
import { tempDir } from '../support/temp.js';

const meta = (): CommandMetadata => ({ now: new Date(), actor: { subject: 'alice', kind: 'platform_administrator' }, correlationId: 'c', causationId: 'c' });
const details = (name: string) => ({ name, tags: [], spec: { organizationType: 'adhoc' as const } });

describe('projection runner: a dropped subscription', () => {
  test('is not ready while the subscription is down, resubscribes from where it stopped, and loses nothing', async () => {
    const dir = tempDir();
    const store = new SqliteEventStore(join(dir.path, 'events.sqlite'));
    const { wrapped, fault } = withDroppingSubscriptions(store);
    const readModels = new MemoryReadModelStore();
    const runner = new ProjectionRunner(wrapped, readModels, [organizationsProjection], pino({ level: 'silent' }));
    const commands = new OrganizationCommands(store);
    try {
      await runner.start();
      const first = await commands.create(details('before-the-drop'), meta());
      assert.ok(await runner.waitFor(first.position, 2000));
      assert.equal(runner.status().ready, true);

      fault.broken = true;
      const during = await commands.create(details('during-the-drop'), meta());
      await eventually(async () => runner.status().failures.subscription !== undefined);
      assert.equal(runner.status().ready, false, 'not ready while the read models cannot follow the log');

      fault.broken = false;
      assert.ok(await runner.waitFor(during.position, 10_000), 'the event written during the drop is applied after resubscribing');
      assert.ok(fault.opened >= 2, 'a new subscription was opened');
      assert.equal(runner.status().ready, true);
      assert.equal(runner.status().failures.subscription, undefined);
      const names = (await readModels.collection(ORGANIZATIONS).find({})).map((doc: any) => doc.metadata.name).sort();
      assert.deepEqual(names, ['before-the-drop', 'during-the-drop']);
    } finally {
      await runner.stop();
      await store.close();
      dir.remove();
    }
  });
});
