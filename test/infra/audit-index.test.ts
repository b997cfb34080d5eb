import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
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

  const open = (name: string) => {
    const events = new SqliteEventStore(join(dir.path, `${name}-events.sqlite`));
    const index = new SqliteAuditIndex(join(dir.path, `${name}-audit.sqlite`), events);
    return { events, index };
  };
  const settle = async (index: SqliteAuditIndex, position: GlobalPosition) => {
    await index.waitFor(position, 5000);
    assert.equal(await index.indexedPosition(), position.commit);
  };

  test("names as they were when the actor acted; streams that stop naming their organization keep it; forgetSubject erases a person's names", async () => {
    const { events, index } = open('names');
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
    for (const file of ['names-audit.sqlite', 'names-audit.sqlite-wal']) {
      const bytes = existsSync(join(dir.path, file)) ? readFileSync(join(dir.path, file)) : Buffer.alloc(0);
      assert.ok(!bytes.includes('alice@example.com') && !bytes.includes('Alicia'), file);
    }
    const raw = new Database(join(dir.path, 'names-audit.sqlite'), { readonly: true });
    const text = JSON.stringify([raw.prepare('SELECT * FROM audit_names').all(), raw.prepare('SELECT * FROM audit_entries').all()]);
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
});
