import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { OrganizationCommands } from '../../src/commands/organization/handlers.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { ORGANIZATIONS, organizationsProjection } from '../../src/projections/organizations/projection.js';
import { applyToProjection, ProjectionRunner } from '../../src/projections/runner.js';
import { tempDir } from '../support/temp.js';

const meta = (subject = 'alice'): CommandMetadata => ({
  now: new Date('2026-03-04T05:06:07.000Z'),
  actor: { subject, kind: 'platform_administrator' },
  correlationId: 'c',
  causationId: 'c',
});
const logger = pino({ level: 'silent' });
const details = (name: string) => ({ name, tags: [], spec: { organizationType: 'adhoc' as const } });

async function withStores(run: (ctx: { events: SqliteEventStore; commands: OrganizationCommands }) => Promise<void>) {
  const dir = tempDir();
  const events = new SqliteEventStore(join(dir.path, 'events.sqlite'));
  try {
    await run({ events, commands: new OrganizationCommands(events) });
  } finally {
    await events.close();
    dir.remove();
  }
}

describe('organizations projection', () => {
  test('shows a requested deletion as deprovisioning with its deletion time', async () => {
    await withStores(async ({ events, commands }) => {
      const readModels = new MemoryReadModelStore();
      const runner = new ProjectionRunner(events, readModels, [organizationsProjection], logger);
      await runner.start();
      const created = await commands.create(details('acme'), meta());
      const id = created.state.status === 'active' ? created.state.id : assert.fail('not created');
      const requested = await commands.requestDeletion(id, meta('bob'));
      assert.ok(await runner.waitFor(requested.position, 2000));
      const doc = (await readModels.collection(ORGANIZATIONS).findById(id)) as any;
      assert.equal(doc.metadata.provisioningStatus, 'deprovisioning');
      assert.equal(doc.metadata.deletionTime, '2026-03-04T05:06:07.000Z');
      assert.equal(doc.metadata.createdBy, 'alice');
      await runner.stop();
    });
  });

  test('is idempotent: applying the same events again changes nothing', async () => {
    await withStores(async ({ events, commands }) => {
      const created = await commands.create(details('idem'), meta());
      const id = created.state.status === 'active' ? created.state.id : assert.fail('not created');
      await commands.update(id, { ...details('idem'), description: 'v2' }, meta());
      const readModels = new MemoryReadModelStore();
      const runner = new ProjectionRunner(events, readModels, [organizationsProjection], logger);
      await runner.rebuild();
      const once = await readModels.collection(ORGANIZATIONS).findById(id);
      // Re-deliver the whole log on top of the built model, as after a crash before a checkpoint.
      const all = await events.readAll({ maxCount: 10_000 });
      for (const event of all) await applyToProjection(organizationsProjection, readModels.collection(ORGANIZATIONS), event);
      assert.deepEqual(await readModels.collection(ORGANIZATIONS).findById(id), once);
      assert.equal((once as any).metadata.description, 'v2');
    });
  });

  test('a rebuild from position zero gives the same read model as live projection', async () => {
    await withStores(async ({ events, commands }) => {
      const live = new MemoryReadModelStore();
      const runner = new ProjectionRunner(events, live, [organizationsProjection], logger);
      await runner.start();
      let last;
      for (let i = 0; i < 20; i++) last = await commands.create(details(`org-${i}`), meta());
      const victim = (await live.collection(ORGANIZATIONS).find({}, { limit: 1 }))[0]!;
      await commands.requestDeletion(victim._id, meta());
      last = await commands.completeDeletion(victim._id, meta());
      assert.ok(await runner.waitFor(last.position, 2000));
      await runner.stop();

      const rebuilt = new MemoryReadModelStore();
      const progress: number[] = [];
      const count = await new ProjectionRunner(events, rebuilt, [organizationsProjection], logger).rebuild((done) => progress.push(done));
      assert.ok(count > 20);
      assert.ok(progress.length > 0);
      const sort = { sort: { _id: 1 as const } };
      assert.deepEqual(await rebuilt.collection(ORGANIZATIONS).find({}, sort), await live.collection(ORGANIZATIONS).find({}, sort));
      assert.equal(await rebuilt.collection(ORGANIZATIONS).count({}), 19);
    });
  });
});
