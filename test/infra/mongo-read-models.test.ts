import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Db } from 'mongodb';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { OrganizationCommands } from '../../src/commands/organization/handlers.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { MongoReadModelStore, sortablePosition, VERSIONS } from '../../src/infra/mongodb/mongo-read-model-store.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { isTransientStoreError } from '../../src/ports/transient-errors.js';
import { ORGANIZATIONS, organizationsProjection } from '../../src/projections/organizations/projection.js';
import { rebuildReadModels } from '../../src/projections/rebuild.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { PROJECTIONS } from '../../src/service.js';
import { eventually } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { FakeDb, fakeClient, networkError, notWritablePrimary } from './mongo-fake.js';

/**
 * The MongoDB read-model adapter against a stand-in for the driver's API
 * (test/infra/mongo-fake.ts: no MongoDB server runs here), with the driver's
 * own error classes. The projection runner and the event store are the real ones.
 */

const meta = (): CommandMetadata => ({ now: new Date(), actor: { subject: 'alice', kind: 'platform_administrator' }, correlationId: 'c', causationId: 'c' });
const details = (name: string) => ({ name, tags: [], spec: { organizationType: 'adhoc' as const } });
const FAST = { firstRetryPauseMs: 5, versionRefreshMs: 50 };

const idOf = (result: { state: unknown }) => (result.state as { id: string }).id;
const open = (db: FakeDb, options = {}) => MongoReadModelStore.open(fakeClient(), db as unknown as Db, { ...FAST, ...options });

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

/** A real SQLite log and a runner for the organizations projection over MongoDB (the stand-in). */
async function harness(db: FakeDb, storeOptions = {}) {
  const dir = tempDir();
  const events = new SqliteEventStore(join(dir.path, 'events.sqlite'));
  const readModels = await open(db, storeOptions);
  const { logger, lines } = capturingLogger();
  const runner = new ProjectionRunner(events, readModels, [organizationsProjection], logger);
  const commands = new OrganizationCommands(events);
  return {
    events,
    readModels,
    runner,
    commands,
    lines,
    async close() {
      await runner.stop();
      await readModels.close();
      await events.close();
      dir.remove();
    },
  };
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
after(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('MongoDB read models: transient errors', () => {
  test('a dropped connection is retried and the projection carries on', async () => {
    const db = new FakeDb();
    const h = await harness(db);
    try {
      await h.runner.start();
      db.faults.fail('bulkWrite', 2, networkError);
      db.faults.fail('findOne', 1, notWritablePrimary);
      const created = await h.commands.create(details('acme'), meta());
      assert.ok(await h.runner.waitFor(created.position, 10_000), 'applied despite the errors');
      const doc = await h.readModels.collection(ORGANIZATIONS).findById(idOf(created));
      assert.equal((doc as any)?.metadata.name, 'acme');
      // The create writes organization.created and organization.tenant_number.assigned: one batch, or two.
      const writes = db.callsOf('bulkWrite', ORGANIZATIONS).length;
      assert.ok(writes === 3 || writes === 4, `two failed bulk writes, then those that went through: ${writes}`);
      assert.equal(typeof (doc as any)?.metadata.tenantId, 'number');
      assert.deepEqual(h.runner.status().failures, {});
      assert.equal(h.runner.status().ready, true);
    } finally {
      await h.close();
    }
  });

  test('retries that run out surface a transient error (a 503), also for a primary stepping down without a label', async () => {
    const db = new FakeDb();
    const store = await open(db, { attempts: 3 });
    try {
      db.faults.always.set('findOne', notWritablePrimary);
      const error = await store.collection('things').findById('a').then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.equal(isTransientStoreError(error), true, 'recognised as transient: the API answers 503 with Retry-After');
      assert.equal(db.callsOf('findOne', 'things').length, 3, 'tried three times');

      db.faults.always.set('findOne', networkError);
      const network = await store.collection('things').findOne({ a: 1 }).catch((e: unknown) => e);
      assert.equal(isTransientStoreError(network), true);

      // Not retryable: a query the server refuses is thrown at once.
      db.faults.always.set('findOne', () => Object.assign(new Error('bad query'), { code: 2 }));
      const before = db.callsOf('findOne').length;
      await assert.rejects(store.collection('things').findOne({}), /bad query/);
      assert.equal(db.callsOf('findOne').length, before + 1);
    } finally {
      db.faults.always.clear();
      await store.close();
    }
  });

  test('when retries run out in the runner, the read models are not ready, and carry on once the database is back; no projection fails', async () => {
    const db = new FakeDb();
    const h = await harness(db, { attempts: 2 });
    try {
      await h.runner.start();
      db.faults.always.set(`${ORGANIZATIONS}.bulkWrite`, networkError);
      const created = await h.commands.create(details('during-the-outage'), meta());
      await eventually(async () => h.runner.status().failures.subscription !== undefined, 10_000);
      assert.equal(h.runner.status().ready, false);
      assert.equal(h.runner.status().failures.organizations, undefined, 'the projection is not marked failed');

      db.faults.always.clear();
      assert.ok(await h.runner.waitFor(created.position, 15_000), 'applied after the outage');
      assert.equal(((await h.readModels.collection(ORGANIZATIONS).findById(idOf(created))) as any)?.metadata.name, 'during-the-outage');
      await eventually(async () => h.runner.status().ready, 10_000);
      assert.deepEqual(h.runner.status().failures, {});
    } finally {
      db.faults.always.clear();
      await h.close();
    }
  });

  test('a checkpoint flush that fails is logged and tried again, never an unhandled rejection', async () => {
    const db = new FakeDb();
    const h = await harness(db, { attempts: 2 });
    try {
      await h.runner.start();
      db.faults.always.set('_checkpoints.replaceOne', networkError);
      const created = await h.commands.create(details('acme'), meta());
      assert.ok(await h.runner.waitFor(created.position, 10_000));
      await eventually(async () => h.lines.some((line) => String(line.msg).includes("could not save the read models' checkpoints")), 10_000);
      db.faults.always.clear();
      // The next event's flush saves the checkpoint.
      const second = await h.commands.create(details('beta'), meta());
      assert.ok(await h.runner.waitFor(second.position, 10_000));
      await eventually(async () => (await h.readModels.getCheckpoint(organizationsProjection.name)) !== undefined, 10_000);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(unhandled, [], 'no unhandled rejection');
    } finally {
      db.faults.always.clear();
      await h.close();
    }
  });
});

describe('MongoDB read models: writes conditional on the event position', () => {
  test('a write from an older event never overwrites a newer document, also across digit lengths and instances', async () => {
    const db = new FakeDb();
    const fast = await open(db);
    const slow = await open(db);
    try {
      await fast.collection('docs').put({ _id: 'a', _position: '10/10', value: 'newer' });
      await slow.collection('docs').put({ _id: 'a', _position: '9/9', value: 'older' });
      const doc = await fast.collection('docs').findById('a');
      assert.equal(doc?.value, 'newer');
      assert.equal(doc?._position, '10/10', 'positions read back in the port\'s form');
      assert.match(String(db.collection('docs').docs.get('a')?._position), /^0{18}10\/0{18}10$/, 'stored sortably');

      await slow.collection('docs').put({ _id: 'a', _position: '11/11', value: 'newest' });
      assert.equal((await fast.collection('docs').findById('a'))?.value, 'newest');

      // Deletes too: an older event's delete leaves a newer document alone.
      await slow.collection('docs').delete('a', '10/10');
      assert.equal((await fast.collection('docs').findById('a'))?.value, 'newest');
      await slow.collection('docs').delete('a', '12/12');
      assert.equal(await fast.collection('docs').findById('a'), undefined);

      // Inside a batch (one bulkWrite): the stale write is dropped, the others land.
      await fast.collection('docs').put({ _id: 'b', _position: '20/20', value: 'newer' });
      await slow.batch(async () => {
        await slow.collection('docs').put({ _id: 'b', _position: '19/19', value: 'older' });
        await slow.collection('docs').put({ _id: 'c', _position: '19/19', value: 'new document' });
      });
      assert.equal((await fast.collection('docs').findById('b'))?.value, 'newer');
      assert.equal((await fast.collection('docs').findById('c'))?.value, 'new document');

      // A document written before positions were stored sortably is replaced.
      db.collection('docs').docs.set('d', { _id: 'd', _position: '12/12', value: 'legacy' });
      await fast.collection('docs').put({ _id: 'd', _position: '13/13', value: 'current' });
      assert.equal((await fast.collection('docs').findById('d'))?.value, 'current');
    } finally {
      await fast.close();
      await slow.close();
    }
  });

  test('an upsert that meets an older document inserted at the same moment by another instance still lands', async () => {
    const db = new FakeDb();
    const store = await open(db);
    try {
      const raceOnce = (id: string) => {
        let raced = false;
        db.racingInsert = (collection, racedId) => {
          if (raced || racedId !== id) return;
          raced = true;
          collection.docs.set(id, { _id: id, _position: sortablePosition('9/9'), value: 'older, inserted by another instance' });
        };
      };
      raceOnce('a');
      await store.collection('docs').put({ _id: 'a', _position: '10/10', value: 'newer' });
      assert.equal((await store.collection('docs').findById('a'))?.value, 'newer');
      raceOnce('b');
      await store.batch(async () => store.collection('docs').put({ _id: 'b', _position: '10/10', value: 'newer' }));
      assert.equal((await store.collection('docs').findById('b'))?.value, 'newer');
    } finally {
      db.racingInsert = undefined;
      await store.close();
    }
  });

  test('a unique index still refuses a real duplicate, inside a batch and outside', async () => {
    const db = new FakeDb();
    const store = await open(db);
    try {
      await store.ensureIndexes('people', [{ fields: ['email'], unique: true }]);
      await store.collection('people').put({ _id: 'a', _position: '1/1', email: 'x@example.com' });
      await assert.rejects(store.collection('people').put({ _id: 'b', _position: '2/2', email: 'x@example.com' }), /duplicate key on email/);
      await assert.rejects(
        store.batch(async () => store.collection('people').put({ _id: 'c', _position: '3/3', email: 'x@example.com' })),
        /duplicate key on email/,
      );
    } finally {
      await store.close();
    }
  });
});

describe('MongoDB read models: batches', () => {
  test('a batch is one bulkWrite per collection; reads by id see it, other queries write it out first', async () => {
    const db = new FakeDb();
    const store = await open(db);
    try {
      await store.batch(async () => {
        for (let i = 0; i < 50; i++) await store.collection('left').put({ _id: `l${i}`, _position: `${i + 1}/${i + 1}`, n: i });
        for (let i = 0; i < 20; i++) await store.collection('right').put({ _id: `r${i}`, _position: `${i + 1}/${i + 1}`, n: i });
        await store.collection('left').put({ _id: 'l0', _position: '100/100', n: 1000 });
        await store.collection('left').delete('l1', '100/100');
        assert.equal((await store.collection('left').findById('l0'))?.n, 1000, 'the batch\'s own write');
        assert.equal(await store.collection('left').findById('l1'), undefined, 'the batch\'s own delete');
        assert.equal(db.callsOf('bulkWrite').length, 0, 'nothing written yet');
      });
      assert.equal(db.callsOf('bulkWrite', 'left').length, 1);
      assert.equal(db.callsOf('bulkWrite', 'right').length, 1);
      assert.equal(db.callsOf('replaceOne').length, 0);
      assert.equal(await store.collection('left').count({}), 49);

      await store.batch(async () => {
        await store.collection('left').put({ _id: 'new', _position: '200/200', n: -1 });
        // A query by filter sees the write, because it is written out first.
        assert.equal((await store.collection('left').find({ n: -1 })).length, 1);
      });
      assert.equal(db.callsOf('bulkWrite', 'left').length, 2);

      // A batch whose function throws writes nothing.
      await assert.rejects(
        store.batch(async () => {
          await store.collection('left').put({ _id: 'never', _position: '300/300' });
          throw new Error('handler failed');
        }),
        /handler failed/,
      );
      assert.equal(await store.collection('left').findById('never'), undefined);
    } finally {
      await store.close();
    }
  });

  test('a rebuild writes each page of the log with one bulkWrite; live events one per event', async () => {
    const db = new FakeDb();
    const h = await harness(db);
    try {
      for (let i = 0; i < 30; i++) await h.commands.create(details(`org-${i}`), meta());
      const count = await h.runner.rebuild();
      assert.equal(count, (await h.events.readAll({ maxCount: 1000 })).length, 'the organizations and their name reservations');
      assert.equal(db.callsOf('bulkWrite', ORGANIZATIONS).length, 1, 'one page, one bulk write');
      assert.equal(db.callsOf('replaceOne', ORGANIZATIONS).length, 0);
      assert.equal(await h.readModels.collection(ORGANIZATIONS).count({}), 30);
    } finally {
      await h.close();
    }
  });
});

describe('MongoDB read models: versions', () => {
  test('a rebuild writes a new version beside the live one, which stays intact until the switch', async () => {
    const db = new FakeDb();
    const h = await harness(db);
    const other = await open(db); // another instance, serving reads
    try {
      await h.runner.start();
      const first = await h.commands.create(details('live'), meta());
      assert.ok(await h.runner.waitFor(first.position, 10_000));
      await h.runner.stop();
      const liveBefore = structuredClone([...db.collection(ORGANIZATIONS).docs.values()]);
      const deletesBefore = db.callsOf('deleteMany', ORGANIZATIONS).length + db.callsOf('deleteOne', ORGANIZATIONS).length;

      const version = await h.readModels.beginVersion();
      const rebuild = new ProjectionRunner(h.events, version.store, [organizationsProjection], pino({ level: 'silent' }));
      await rebuild.rebuild();
      assert.equal(db.collection(`${ORGANIZATIONS}_v1`).docs.size, 1, 'built into organizations_v1');
      assert.deepEqual([...db.collection(ORGANIZATIONS).docs.values()], liveBefore, 'the live collection is untouched');
      assert.equal(db.callsOf('deleteMany', ORGANIZATIONS).length + db.callsOf('deleteOne', ORGANIZATIONS).length, deletesBefore, 'nothing deleted in place');
      assert.ok(db.created.has(ORGANIZATIONS), 'still there before the switch');
      assert.equal(other.version, 0, 'other instances still read version 0');

      await version.publish();
      assert.equal(db.collection(VERSIONS).docs.get('current')?.version, 1, 'one pointer document says which version is live');
      await eventually(async () => other.version === 1, 10_000);
      assert.equal(((await other.collection(ORGANIZATIONS).findById(idOf(first))) as any)?.metadata.name, 'live');
      assert.equal(await other.getCheckpoint(organizationsProjection.name), (await version.store.getCheckpoint(organizationsProjection.name)), 'checkpoints switch with the collections');

      await version.dropPrevious();
      assert.equal(db.created.has(ORGANIZATIONS), false, 'the previous version is dropped after the switch');
      assert.ok(db.created.has(`${ORGANIZATIONS}_v1`));

      // The next rebuild goes to version 2; an unfinished one is discarded.
      const next = await other.beginVersion();
      await next.store.collection(ORGANIZATIONS).put({ _id: 'x', _position: '1/1' });
      await next.discard();
      assert.equal(db.created.has(`${ORGANIZATIONS}_v2`), false);
      assert.equal(db.collection(VERSIONS).docs.get('current')?.version, 1);
    } finally {
      await other.close();
      await h.close();
    }
  });

  test('npm run rebuild: what a running instance applied to the old version during the switch reaches the new one', async () => {
    const db = new FakeDb();
    // The running instance reads the pointer rarely here, so it certainly writes the old version after the switch.
    const live = await harness(db, { versionRefreshMs: 60_000 });
    const rebuilding = await open(db, { versionRefreshMs: 50 });
    try {
      await live.runner.start();
      const before = await live.commands.create(details('before'), meta());
      assert.ok(await live.runner.waitFor(before.position, 10_000));
      let during: Awaited<ReturnType<typeof live.commands.create>> | undefined;
      const report = await rebuildReadModels(live.events, rebuilding, [organizationsProjection], pino({ level: 'silent' }), {
        onStep: async (message) => {
          if (!message.startsWith('switched')) return;
          during = await live.commands.create(details('during-the-switch'), meta());
          assert.ok(await live.runner.waitFor(during.position, 10_000));
        },
      });
      assert.deepEqual(report.failures, {});
      assert.ok(report.switched && report.switched.tail >= 1, 'the events after the rebuild were applied to the new version');
      const names = [...db.collection(`${ORGANIZATIONS}_v1`).docs.values()].map((doc: any) => doc.metadata.name).sort();
      assert.deepEqual(names, ['before', 'during-the-switch']);
      assert.equal(db.collection(VERSIONS).docs.get('current')?.version, 1);
    } finally {
      await rebuilding.close();
      await live.close();
    }
  });

  test('two rebuilds that switch from the same version: the second is refused', async () => {
    const db = new FakeDb();
    const store = await open(db);
    try {
      const a = await store.beginVersion();
      const b = await store.beginVersion();
      await a.publish();
      await assert.rejects(b.publish(), /another rebuild switched the read models first/);
    } finally {
      await store.close();
    }
  });
});

describe('MongoDB read models: indexes', () => {
  test('each list gets a compound index for its scope and default sort; a single-field index a compound one starts with is not made', async () => {
    const db = new FakeDb();
    const store = await open(db);
    try {
      for (const projection of PROJECTIONS) await store.ensureIndexes(projection.collection, projection.indexes);
      const keysOf = (collection: string) => db.callsOf('createIndex', collection).map((call) => Object.keys(call.args[0] as object).join(','));
      for (const collection of ['users', 'groups', 'projects', 'allocations', 'applications', 'identity_providers', 'serviceaccounts']) {
        assert.ok(keysOf(collection).includes('metadata.organizationId,metadata.name,_id'), `${collection}: organization, name, id`);
        assert.ok(!keysOf(collection).includes('metadata.organizationId'), `${collection}: no separate organization index`);
      }
      assert.ok(keysOf('organizations').includes('metadata.name,_id'));
      assert.ok(keysOf('groups').includes('metadata.organizationId,spec.userIDs'));
      assert.ok(keysOf('users').includes('metadata.organizationId,subjectKey'));
    } finally {
      await store.close();
    }
  });
});
