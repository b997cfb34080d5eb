import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ERASED } from '../../src/domain/personal-data/map.js';
import { eventReader } from '../../src/domain/upcasting.js';
import { KeysPreparedEventStore, PersonalDataCipher } from '../../src/infra/events/encrypting-event-store.js';
import { EvolvingEventStore } from '../../src/infra/events/evolving-event-store.js';
import { UnreadableEvents } from '../../src/infra/events/unreadable-events.js';
import { PgLeases } from '../../src/infra/postgres/pg-lease.js';
import { PgPersonKeys } from '../../src/infra/postgres/pg-person-keys.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { InProcessLeases } from '../../src/ports/lease.js';
import { LeasedJob } from '../../src/processes/leased-job.js';
import { testEvent } from '../support/events.js';
import { eventually } from '../support/server.js';
import { freshDatabase, postgresSkipReason } from '../support/postgres.js';
import { tempDir } from '../support/temp.js';

const skip = await postgresSkipReason();
if (skip) console.log(`# ${skip}`);

/** A job that records its starts and stops. */
function recorder() {
  const log: string[] = [];
  let running = 0;
  return {
    log,
    get running() {
      return running;
    },
    make: () => ({
      start: () => {
        running += 1;
        log.push('start');
      },
      stop: ({ lost }: { lost: boolean }) => {
        running -= 1;
        log.push(lost ? 'lost' : 'stop');
      },
    }),
  };
}

describe('leases', () => {
  test('in process: held at once, and the job stops on close', async () => {
    const job = recorder();
    const leased = new LeasedJob(new InProcessLeases().lease('p'), job.make);
    await leased.start();
    assert.equal(leased.running, true);
    await leased.stop();
    assert.deepEqual(job.log, ['start', 'stop']);
  });

  describe('on PostgreSQL', { skip }, () => {
    let url: string;
    before(async () => {
      url = await freshDatabase();
    });

    test('one holder among three; when its session dies another takes over within seconds', async () => {
      const instances = [0, 1, 2].map(() => new PgLeases(url, { retryMs: 100 }));
      const jobs = instances.map(() => recorder());
      const leased = instances.map((leases, i) => new LeasedJob(leases.lease('cascade'), jobs[i]!.make));
      try {
        await Promise.all(leased.map((job) => job.start()));
        await eventually(async () => leased.filter((job) => job.running).length === 1);
        // Never two at once, over a few rounds.
        for (let round = 0; round < 5; round++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          assert.equal(leased.filter((job) => job.running).length, 1);
        }
        const holder = leased.findIndex((job) => job.running);
        // The holder's connection killed from the server side, as when its process dies.
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'identity-service lease%' AND pid IN
             (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`,
        );
        await admin.end();
        await eventually(async () => !leased[holder]!.running && leased.filter((job) => job.running).length === 1, 5000);
        assert.ok(jobs[holder]!.log.includes('lost'));
        assert.equal(jobs.reduce((n, job) => n + job.running, 0), 1);
      } finally {
        for (const job of leased) await job.stop();
        for (const leases of instances) await leases.close();
      }
    });

    test('a lease given up on close is taken by a waiting instance', async () => {
      const first = new PgLeases(url, { retryMs: 100 });
      const second = new PgLeases(url, { retryMs: 100 });
      const a = new LeasedJob(first.lease('signer'), recorder().make);
      const b = new LeasedJob(second.lease('signer'), recorder().make);
      try {
        await a.start();
        assert.equal(a.running, true);
        await b.start();
        assert.equal(b.running, false);
        await a.stop();
        await eventually(async () => b.running, 3000);
      } finally {
        await b.stop();
        await first.close();
        await second.close();
      }
    });

    test('scope all: one instance holds every job', async () => {
      const first = new PgLeases(url, { retryMs: 100, scope: 'all' });
      const second = new PgLeases(url, { retryMs: 100, scope: 'all' });
      const jobs = [first.lease('x'), first.lease('y'), second.lease('x'), second.lease('y')].map((lease) => new LeasedJob(lease, recorder().make));
      try {
        // The first instance first (which of two starting at once wins is a race), then the second.
        await Promise.all(jobs.slice(0, 2).map((job) => job.start()));
        await eventually(async () => jobs[0]!.running && jobs[1]!.running);
        await Promise.all(jobs.slice(2).map((job) => job.start()));
        await eventually(async () => jobs.filter((job) => job.running).length === 2);
        assert.deepEqual(
          jobs.map((job) => job.running),
          [true, true, false, false],
        );
      } finally {
        for (const job of jobs) await job.stop();
        await first.close();
        await second.close();
      }
    });
  });
});

describe('person keys on PostgreSQL', { skip }, () => {
  let url: string;
  const wrappingKey = randomBytes(32);
  before(async () => {
    url = await freshDatabase();
  });
  after(() => wrappingKey.fill(0));

  test('a key made on one instance opens on another; an erasure on one reaches the other', async () => {
    const a = await PgPersonKeys.connect(url, wrappingKey);
    const b = await PgPersonKeys.connect(url, wrappingKey);
    try {
      await a.prepare(['user-1'], { create: true });
      const key = Buffer.from(a.keyFor('user-1')!);
      // Not fetched yet: b has no answer of its own (never a key of its own making).
      assert.equal(b.lookup('user-1').state, 'none');
      assert.throws(() => b.keyFor('user-1'), /not prepared/);
      await b.prepare(['user-1'], { create: true });
      assert.deepEqual(b.keyFor('user-1'), key);
      const heard: string[] = [];
      b.onErasedElsewhere((id) => heard.push(id));
      assert.equal(await a.destroy('user-1'), true);
      await eventually(async () => heard.includes('user-1'), 3000);
      assert.equal(b.lookup('user-1').state, 'destroyed');
      // No new key after an erasure, on either instance.
      await b.prepare(['user-1'], { create: true });
      assert.equal(b.keyFor('user-1'), undefined);
      const c = await PgPersonKeys.connect(url, wrappingKey);
      await c.prepare(['user-1'], { create: true });
      assert.equal(c.lookup('user-1').state, 'destroyed');
      await c.close();
      assert.equal(await a.destroy('user-1'), false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('the cache of unwrapped keys is bounded as in the SQLite store: the oldest leave memory and are fetched again, never made anew', async () => {
    await assert.rejects(PgPersonKeys.connect(url, wrappingKey, undefined, { maxCachedKeys: 0 }), RangeError);
    const keys = await PgPersonKeys.connect(url, wrappingKey, undefined, { maxCachedKeys: 2 });
    const dir = tempDir();
    // The append and read path of the service with a shared key store (src/service.ts openStores), over a log in a file.
    const cipher = new PersonalDataCipher(keys);
    const store = new EvolvingEventStore(new KeysPreparedEventStore(new SqliteEventStore(join(dir.path, 'events.sqlite')), cipher), new UnreadableEvents(), eventReader, cipher);
    try {
      const ids = ['user-b1', 'user-b2', 'user-b3'];
      await keys.prepare(ids.slice(0, 2), { create: true });
      const first = Buffer.from(keys.keyFor(ids[0]!)!);
      await keys.prepare([ids[2]!], { create: true });
      assert.deepEqual(ids.map((id) => keys.lookup(id).state), ['none', 'live', 'live'], 'the oldest left memory');
      await keys.prepare([ids[0]!], { create: true });
      assert.deepEqual(keys.keyFor(ids[0]!), first, 'fetched again: the same key');
      // Three persons writing in turn through a cache of two: each append finds or fetches its person's key.
      for (let round = 0; round < 2; round++) {
        for (const id of ids) await store.appendToStream(`user-${id}`, [testEvent('user.created', { userId: id, organizationId: 'o', name: `name-of-${id}`, description: 'd', tags: [], subject: `${id}@example.com`, state: 'active' })], { expectedRevision: 'any' });
      }
      assert.equal(ids.filter((id) => keys.lookup(id).state === 'live').length, 2, 'two in memory at most');
      await keys.destroy(ids[1]!);
      keys.evictAll();
      const read = await store.readAll();
      assert.deepEqual(
        read.map((e) => (e.data as { name: string }).name),
        ['name-of-user-b1', ERASED, 'name-of-user-b3', 'name-of-user-b1', ERASED, 'name-of-user-b3'],
      );
      await keys.prepare([ids[1]!], { create: true });
      assert.equal(keys.lookup(ids[1]!).state, 'destroyed', 'no new key after an erasure');
    } finally {
      await store.close();
      await keys.close();
      dir.remove();
    }
  });

  test('erasures known in memory are bounded too: one that left memory is read from the table again, and never gets a new key', async () => {
    await assert.rejects(PgPersonKeys.connect(url, wrappingKey, undefined, { maxRememberedErasures: 0 }), RangeError);
    const keys = await PgPersonKeys.connect(url, wrappingKey, undefined, { maxRememberedErasures: 2 });
    try {
      const ids = ['user-e1', 'user-e2', 'user-e3'];
      await keys.prepare(ids, { create: true });
      for (const id of ids) await keys.destroy(id);
      assert.deepEqual(ids.map((id) => keys.lookup(id).state), ['none', 'destroyed', 'destroyed'], 'the oldest erasure left memory');
      // Before anything is sealed or opened the store is asked: still erased, and no key is made.
      await keys.prepare([ids[0]!], { create: true });
      assert.equal(keys.lookup(ids[0]!).state, 'destroyed');
      assert.equal(keys.keyFor(ids[0]!), undefined);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const rows = await client.query('SELECT person_id FROM person_keys WHERE person_id = ANY($1)', [ids]);
      await client.end();
      assert.equal(rows.rowCount, 0);
    } finally {
      await keys.close();
    }
  });

  test('concurrent first writes about one person on two instances agree on one key', async () => {
    const a = await PgPersonKeys.connect(url, wrappingKey);
    const b = await PgPersonKeys.connect(url, wrappingKey);
    try {
      await Promise.all([a.prepare(['user-2'], { create: true }), b.prepare(['user-2'], { create: true })]);
      assert.deepEqual(a.keyFor('user-2'), b.keyFor('user-2'));
      // Another master secret opens nothing.
      const wrong = await PgPersonKeys.connect(url, randomBytes(32));
      await assert.rejects(wrong.prepare(['user-2'], { create: false }));
      await wrong.close();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
