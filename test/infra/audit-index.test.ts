import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { PersonKeys } from '../../src/infra/crypto/person-keys.js';
import { PersonalDataCipher } from '../../src/infra/events/encrypting-event-store.js';
import { FORGOTTEN, SqliteAuditIndex } from '../../src/infra/sqlite/sqlite-audit-index.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { AuditQuery, AuditRecord } from '../../src/ports/audit-log.js';
import type { ActorKind, GlobalPosition, NewEvent } from '../../src/ports/event-store.js';
import { testEvent } from '../support/events.js';
import { tempDir } from '../support/temp.js';

const by = (subject: string, kind: ActorKind, type: string, data: unknown, occurredAt?: string): NewEvent => {
  const event = testEvent(type, data);
  return { ...event, metadata: { ...event.metadata, actor: { subject, kind }, ...(occurredAt && { occurredAt }) } };
};

const collect = async (records: AsyncIterable<AuditRecord>) => {
  const out: AuditRecord[] = [];
  for await (const record of records) out.push(record);
  return out;
};

describe('the audit index (DATA_DIR/audit.sqlite)', () => {
  const dir = tempDir();
  after(() => dir.remove());

  const open = (name: string, thread: 'worker' | 'main' = 'worker') => {
    const events = new SqliteEventStore(join(dir.path, `${name}-events.sqlite`));
    const index = new SqliteAuditIndex(join(dir.path, `${name}-audit.sqlite`), events, undefined, undefined, { thread });
    return { events, index };
  };
  const settle = async (index: SqliteAuditIndex, position: GlobalPosition) => {
    await index.waitFor(position, 5000);
    assert.equal(await index.indexedPosition(), position.commit);
  };

  for (const thread of ['worker', 'main'] as const) test(`names as they were when the actor acted; streams that stop naming their organization keep it; forgetSubject erases a person's names (filed on the ${thread} thread)`, async () => {
    const { events, index } = open(`names-${thread}`, thread);
    index.start();
    const org = 'org-1';
    await events.appendToStream('user-u1', [by('admin', 'platform_administrator', 'user.created', { userId: 'u1', organizationId: org, name: 'Alice', subject: 'alice@example.com', state: 'active', tags: [] })], { expectedRevision: 'no_stream' });
    await events.appendToStream('group-g1', [by('alice@example.com', 'user', 'group.created', { groupId: 'g1', organizationId: org, name: 'g' })], { expectedRevision: 'no_stream' });
    await events.appendToStream('user-u1', [by('admin', 'platform_administrator', 'user.updated', { userId: 'u1', organizationId: org, name: 'Alicia', subject: 'alice@example.com', state: 'active', tags: [] })], { expectedRevision: 0 });
    await events.appendToStream('group-g1', [by('alice@example.com', 'user', 'group.updated', { groupId: 'g1', organizationId: org, name: 'g2' })], { expectedRevision: 0 });
    // An authorization code: only its first event names the organization.
    await events.appendToStream('authcode-c1', [by('app', 'application', 'authorization_code.issued', { code: 'c1', organizationId: org })], { expectedRevision: 'no_stream' });
    const last = await events.appendToStream('authcode-c1', [by('app', 'application', 'authorization_code.redeemed', { code: 'c1' })], { expectedRevision: 0 });
    await settle(index, last.position);

    const groupEntries = await index.page({ organizationId: org, resource: 'g1', order: 'asc' }, 10);
    assert.deepEqual(groupEntries.map((r) => [r.event.type, r.actorName]), [['group.created', 'Alice'], ['group.updated', 'Alicia']]);
    const codes = await index.page({ organizationId: org, resourceKind: 'authorizationCode', order: 'asc' }, 10);
    assert.deepEqual(codes.map((r) => [r.event.type, r.organizationId, r.resource.id, r.actorName]), [
      ['authorization_code.issued', org, 'c1', 'app'],
      ['authorization_code.redeemed', org, 'c1', 'app'],
    ]);
    assert.equal((await index.page({ organizationId: 'org-2', order: 'asc' }, 10)).length, 0);

    // Erasure: the person's names leave the index, and their subject with them.
    assert.equal(await index.forgetSubject('u1'), 2);
    const forgotten = await index.page({ organizationId: org, resource: 'g1', order: 'asc' }, 10);
    assert.deepEqual(forgotten.map((r) => r.actorName), [null, null]);
    assert.equal((await index.page({ actor: 'alice@example.com', order: 'asc' }, 10)).length, 0);
    assert.equal((await index.page({ actor: FORGOTTEN, order: 'asc' }, 10)).length, 2);
    await index.close();
    // Not in the file's bytes either (secure_delete, WAL checkpointed).
    for (const file of [`names-${thread}-audit.sqlite`, `names-${thread}-audit.sqlite-wal`]) {
      const bytes = existsSync(join(dir.path, file)) ? readFileSync(join(dir.path, file)) : Buffer.alloc(0);
      assert.ok(!bytes.includes('alice@example.com') && !bytes.includes('Alicia'), file);
    }
    const raw = new Database(join(dir.path, `names-${thread}-audit.sqlite`), { readonly: true });
    const text = JSON.stringify([raw.prepare('SELECT * FROM audit_names').all(), raw.prepare('SELECT * FROM audit_entries').all(), raw.prepare('SELECT * FROM audit_terms').all()]);
    raw.close();
    assert.ok(!text.includes('alice@example.com') && !text.includes('Alicia'), text);
    await events.close();
  });

  test('type prefixes (as ordered ranges, or one IN past 40 types), time bounds, atOrBefore, pages and records', async () => {
    const { events, index } = open('filters');
    index.start();
    let position: GlobalPosition | undefined;
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < 2500; i++) {
      const type = i % 5 === 0 ? `bulk.t${String(i % 45).padStart(2, '0')}` : i % 5 === 1 ? 'user.created' : 'group.updated';
      const appended = await events.appendToStream(`group-g${i % 7}`, [by('robot', 'service_account', type, { organizationId: i % 2 === 0 ? 'even' : 'odd', i }, new Date(t0 + i * 1000).toISOString())], { expectedRevision: 'any' });
      position = appended.position;
    }
    await settle(index, position!);
    const expected = (pred: (i: number) => boolean) => Array.from({ length: 2500 }, (_, i) => i).filter(pred);
    const indices = (records: AuditRecord[]) => records.map((r) => (r.event.data as { i: number }).i);

    const bulk = await collect(index.records({ types: ['bulk.*'], order: 'asc' }));
    assert.deepEqual(indices(bulk), expected((i) => i % 5 === 0));
    const mixed = await index.page({ types: ['user.*', 'bulk.t00'], organizationId: 'odd', order: 'desc' }, 50);
    assert.deepEqual(indices(mixed), expected((i) => i % 2 === 1 && (i % 5 === 1 || (i % 5 === 0 && i % 45 === 0))).reverse().slice(0, 50));
    assert.equal((await index.page({ types: ['nothing.*'], order: 'asc' }, 10)).length, 0);

    const window = await collect(index.records({ from: new Date(t0 + 100_000), to: new Date(t0 + 199_000), organizationId: 'even', order: 'asc' }));
    assert.deepEqual(indices(window), expected((i) => i >= 100 && i <= 199 && i % 2 === 0));

    const all = await collect(index.records({ order: 'desc' }));
    assert.equal(all.length, 2500);
    const middle = all[1250]!.event.position.commit;
    const upTo = await collect(index.records({ order: 'desc', atOrBefore: middle }));
    assert.equal(upTo.length, 1250);
    assert.equal(upTo[0]!.event.position.commit, middle);

    // Pages continue after a position, in either order.
    const query: AuditQuery = { organizationId: 'even', order: 'desc' };
    const first = await index.page(query, 100);
    const second = await index.page({ ...query, after: first[99]!.event.position.commit }, 100);
    assert.deepEqual([...indices(first), ...indices(second)], expected((i) => i % 2 === 0).reverse().slice(0, 200));

    // The raw event as stored: the index reads the events back by position.
    assert.equal(all[0]!.event.metadata.actor.subject, 'robot');
    assert.equal((statSync(join(dir.path, 'filters-audit.sqlite')).mode & 0o777).toString(8), '600');
    await index.close();
    await events.close();
  });

  test('a restart resumes after the last row filed: no duplicate, nothing missing', async () => {
    let { events, index } = open('restart');
    index.start();
    let last: GlobalPosition | undefined;
    for (let i = 0; i < 300; i++) last = (await events.appendToStream(`user-u${i % 3}`, [by('a', 'system', 'user.activity.recorded', { organizationId: 'o', i })], { expectedRevision: 'any' })).position;
    await settle(index, last!);
    await index.close();
    for (let i = 300; i < 450; i++) last = (await events.appendToStream(`user-u${i % 3}`, [by('a', 'system', 'user.activity.recorded', { organizationId: 'o', i })], { expectedRevision: 'any' })).position;
    index = new SqliteAuditIndex(join(dir.path, 'restart-audit.sqlite'), events);
    index.start();
    await settle(index, last!);
    const all = await collect(index.records({ order: 'asc' }));
    assert.deepEqual(all.map((r) => (r.event.data as { i: number }).i), Array.from({ length: 450 }, (_, i) => i));
    await index.close();
    const raw = new Database(join(dir.path, 'restart-audit.sqlite'), { readonly: true });
    assert.equal((raw.prepare('SELECT COUNT(*) AS n FROM audit_entries').get() as { n: number }).n, 450);
    raw.close();
    await events.close();
  });

  test('a tail lost from audit.sqlite (a power loss: it commits with synchronous=NORMAL) is filed again from the log', async () => {
    let { events, index } = open('lost-tail');
    const file = join(dir.path, 'lost-tail-audit.sqlite');
    index.start();
    let last: GlobalPosition | undefined;
    const append = async (from: number, to: number) => {
      for (let i = from; i < to; i++) last = (await events.appendToStream(`user-u${i % 3}`, [by('a', 'system', 'user.activity.recorded', { organizationId: 'o', i })], { expectedRevision: 'any' })).position;
      await settle(index, last!);
    };
    await append(0, 200);
    await index.close(); // the WAL checkpointed into the file: what had reached the disk
    const onDisk = readFileSync(file);
    index = new SqliteAuditIndex(file, events);
    index.start();
    await append(200, 320);
    await index.close();
    // The power loss: the commits after that never reached the disk (the log's did: it commits with FULL).
    for (const suffix of ['-wal', '-shm']) rmSync(file + suffix, { force: true });
    writeFileSync(file, onDisk);
    index = new SqliteAuditIndex(file, events);
    index.start();
    await settle(index, last!);
    const all = await collect(index.records({ order: 'asc' }));
    assert.deepEqual(all.map((r) => (r.event.data as { i: number }).i), Array.from({ length: 320 }, (_, i) => i));
    await index.close();
    await events.close();
  });

  test('time bounds are exact when clocks go back (within a batch and across batches), in both orders, also in a file made before the time columns', async () => {
    const { events, index } = open('clocks');
    index.start();
    const t0 = Date.parse('2026-03-01T00:00:00Z');
    // Times jump back and forth: a scrambled order, and a second run of appends older than most of the first.
    const times: number[] = [];
    let last: GlobalPosition | undefined;
    const append = async (count: number, timeOf: (i: number) => number) => {
      for (let i = 0; i < count; i++) {
        const at = timeOf(i);
        times.push(at);
        last = (await events.appendToStream(`group-g${i % 5}`, [by('robot', 'service_account', 'group.updated', { organizationId: i % 3 === 0 ? 'o1' : 'o2', n: times.length - 1 }, new Date(at).toISOString())], { expectedRevision: 'any' })).position;
      }
      await settle(index, last!);
    };
    await append(400, (i) => t0 + ((i * 7919) % 400) * 1000);
    await append(300, (i) => t0 + 100_000 + ((i * 31) % 300) * 500);
    await append(100, (i) => t0 + 500_000 + i * 1000);

    const check = async (label: string) => {
      for (const [fromS, toS] of [[0, 50], [120, 180], [100, 250], [390, 400], [499, 600], [250, 2000], [601, 700]] as const) {
        for (const organizationId of [undefined, 'o1']) {
          const from = new Date(t0 + fromS * 1000);
          const to = new Date(t0 + toS * 1000);
          const expected = times
            .map((at, n) => ({ at, n }))
            .filter(({ at, n }) => at >= from.getTime() && at <= to.getTime() && (organizationId === undefined || orgOf(n) === organizationId))
            .map(({ n }) => n);
          const asc = await collect(index.records({ from, to, order: 'asc', ...(organizationId && { organizationId }) }));
          assert.deepEqual(asc.map((r) => (r.event.data as { n: number }).n), expected, `${label} asc ${fromS}-${toS} ${organizationId}`);
          const desc = await index.page({ from, to, order: 'desc', ...(organizationId && { organizationId }) }, 10);
          assert.deepEqual(desc.map((r) => (r.event.data as { n: number }).n), [...expected].reverse().slice(0, 10), `${label} desc ${fromS}-${toS} ${organizationId}`);
        }
      }
    };
    const orgOf = (n: number) => {
      const i = n < 400 ? n : n < 700 ? n - 400 : n - 700;
      return i % 3 === 0 ? 'o1' : 'o2';
    };
    await check('filed');
    await index.close();

    // A file from before the time columns: they are added and filled when it is opened.
    const raw = new Database(join(dir.path, 'clocks-audit.sqlite'));
    raw.exec('DROP INDEX audit_by_time_ceiling; DROP INDEX audit_by_time_floor; ALTER TABLE audit_entries DROP COLUMN time_ceiling; ALTER TABLE audit_entries DROP COLUMN time_floor;');
    raw.close();
    const migrated = new SqliteAuditIndex(join(dir.path, 'clocks-audit.sqlite'), events);
    migrated.start();
    // And filing goes on after it, older than most rows again.
    for (let i = 0; i < 50; i++) {
      times.push(t0 + 20_000 + i * 100);
      last = (await events.appendToStream('group-g9', [by('robot', 'service_account', 'group.updated', { organizationId: 'o2', n: times.length - 1 }, new Date(times.at(-1)!).toISOString())], { expectedRevision: 'any' })).position;
    }
    await settle(migrated, last!);
    for (const [fromS, toS] of [[0, 30], [20, 25], [100, 250]] as const) {
      const from = new Date(t0 + fromS * 1000);
      const to = new Date(t0 + toS * 1000);
      const expected = times.map((at, n) => ({ at, n })).filter(({ at }) => at >= from.getTime() && at <= to.getTime()).map(({ n }) => n);
      const asc = await collect(migrated.records({ from, to, order: 'asc' }));
      assert.deepEqual(asc.map((r) => (r.event.data as { n: number }).n), expected, `migrated ${fromS}-${toS}`);
    }
    await migrated.close();
    await events.close();
  });

  test('erasure while the worker catches up on sealed events: nothing of the person is filed after it, nothing kept before it', async () => {
    const eventsFile = join(dir.path, 'sealed-events.sqlite');
    const keysFile = join(dir.path, 'sealed-keys.sqlite');
    const wrappingKey = randomBytes(32);
    const keys = new PersonKeys(keysFile, wrappingKey);
    const cipher = new PersonalDataCipher(keys);
    const events = new SqliteEventStore(eventsFile);
    const email = 'zq9-sealed-alice@example.com';
    const name = 'Zq9 Sealed Alice';
    const alice = (type: string, data: unknown): NewEvent => {
      const event = testEvent(type, data);
      return { ...event, metadata: { ...event.metadata, actor: { subject: email, kind: 'user', id: 'u1' } } };
    };
    await events.appendToStream('user-u1', [cipher.seal(by('admin', 'platform_administrator', 'user.created', { userId: 'u1', organizationId: 'o', name, subject: email, state: 'active', tags: [] }))], { expectedRevision: 'no_stream' });
    // Enough for several of the worker's batches.
    const appends: Array<Promise<{ position: GlobalPosition }>> = [];
    for (let i = 0; i < 12_000; i++) appends.push(events.appendToStream(`group-g${i % 50}`, [cipher.seal(alice('group.updated', { groupId: `g${i % 50}`, organizationId: 'o', i }))], { expectedRevision: 'any' }));
    const last = (await Promise.all(appends)).at(-1)!.position;

    const index = new SqliteAuditIndex(join(dir.path, 'sealed-audit.sqlite'), events, undefined, (event) => cipher.open(event), { personKeys: { file: keysFile, wrappingKey } });
    index.start();
    // Seen opened by the worker (it reads the file and the keys itself).
    await index.waitFor({ commit: 2n, prepare: 2n }, 10_000);
    const [first] = await index.page({ actor: email, order: 'asc' }, 1);
    assert.equal(first?.actorName, name, 'the worker opened the sealed name and subject');
    // The erasure, as the service runs it: the key first, then the index's hook, while filing goes on.
    assert.equal(keys.destroy('u1'), true);
    await index.forgetSubject('u1');
    await settle(index, last);
    assert.equal((await index.page({ actor: email, order: 'asc' }, 1)).length, 0);
    const all = await collect(index.records({ organizationId: 'o', order: 'asc' }));
    assert.equal(all.length, 12_001);
    assert.ok(all.every((r) => r.actorName !== name), 'no row carries the name');
    await index.close();
    const raw = new Database(join(dir.path, 'sealed-audit.sqlite'), { readonly: true });
    const text = JSON.stringify([raw.prepare('SELECT * FROM audit_names').all(), raw.prepare('SELECT * FROM audit_terms').all(), raw.prepare('SELECT DISTINCT actor, actor_name FROM audit_entries').all()]);
    raw.close();
    assert.ok(!text.includes(email) && !text.includes(name), text);
    keys.close();
    await events.close();
  });
});
