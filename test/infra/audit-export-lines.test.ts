import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { toAuditEntry } from '../../src/domain/audit/entry.js';
import { ndjsonLine } from '../../src/domain/audit/ndjson-line.js';
import { PersonKeys } from '../../src/infra/crypto/person-keys.js';
import { PersonalDataCipher } from '../../src/infra/events/encrypting-event-store.js';
import { createLogger } from '../../src/infra/logger.js';
import { openLeafReader } from '../../src/infra/ledger/leaf-reader.js';
import { LedgerBuilder } from '../../src/infra/ledger/ledger-builder.js';
import { SqliteMerkleTree } from '../../src/infra/ledger/sqlite-merkle-tree.js';
import { SqliteAuditIndex } from '../../src/infra/sqlite/sqlite-audit-index.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { AuditQuery, AuditRecord } from '../../src/ports/audit-log.js';
import { type ActorKind, type NewEvent, parsePosition } from '../../src/ports/event-store.js';
import { testEvent } from '../support/events.js';
import { tempDir } from '../support/temp.js';

const awkward = 'quote " backslash \\ newline \n tab \t é 😀 \u2028';
const by = (subject: string, kind: ActorKind, type: string, data: unknown, source?: { address: string; userAgent: string | null }, id?: string): NewEvent => {
  const event = testEvent(type, data);
  return { ...event, metadata: { ...event.metadata, actor: { subject, kind, ...(id && { id }) }, ...(source && { source }) } };
};

// An NDJSON export on the embedded store takes most lines finished from the index
// (the head and tail kept beside each row, joined with the log's text and the ledger's
// leaf: SqliteAuditIndex.exportPage). Whatever path each line takes, the export must be
// exactly the entries of `page`, serialised.
describe('audit export lines from the index (exportPage)', () => {
  const dir = tempDir();
  after(() => dir.remove());

  test('equal the entries serialised, for every kind of row and filter; the leaf is the one in the tree; sealed, tombstoned and forgotten rows take the entry path', async () => {
    const eventsFile = join(dir.path, 'events.sqlite');
    const keysFile = join(dir.path, 'keys.sqlite');
    const ledgerFile = join(dir.path, 'ledger.sqlite');
    const wrappingKey = randomBytes(32);
    const keys = new PersonKeys(keysFile, wrappingKey);
    const cipher = new PersonalDataCipher(keys);
    const events = new SqliteEventStore(eventsFile);
    const tree = new SqliteMerkleTree(ledgerFile);
    const builder = new LedgerBuilder(events, tree, createLogger('silent'));
    builder.start();
    const append = (stream: string, event: NewEvent) => events.appendToStream(stream, [cipher.seal(event)], { expectedRevision: 'any' });

    const email = 'qx7-export-ada@example.com';
    const name = 'Qx7 Ada';
    await append('user-u1', by('admin', 'platform_administrator', 'user.created', { userId: 'u1', organizationId: 'o1', name, subject: email, state: 'active', tags: [] }));
    for (let i = 0; i < 40; i++) {
      const source = i % 3 === 0 ? undefined : { address: i % 2 ? '203.0.113.7' : '::1', userAgent: i % 5 ? awkward : null };
      await append(`group-g${i % 4}`, by(i % 4 ? 'admin' : 'svc-robot', i % 4 ? 'platform_administrator' : 'service_account', i % 2 ? 'group.updated' : 'group.created', { groupId: `g${i % 4}`, organizationId: i % 3 ? 'o1' : 'o2', name: `${awkward}${i}` }, source));
      // A user acting: the subject is sealed in the metadata (built at export time).
      if (i % 10 === 0) await append(`project-p${i}`, by(email, 'user', 'project.created', { projectId: `p${i}`, organizationId: 'o1', name: `p${i}` }, { address: '198.51.100.1', userAgent: 'ua' }, 'u1'));
      // An unsealed actor whose subject will be forgotten.
      if (i % 10 === 5) await append(`project-p${i}`, by('legacy-subject', 'user', 'project.created', { projectId: `p${i}`, organizationId: 'o1', name: `p${i}` }));
    }
    // Retention: the first two become tombstones in place, shown as such (with the original's leaf).
    for (let i = 0; i < 3; i++) await append('doomed-1', by('admin', 'platform_administrator', 'group.updated', { groupId: 'doomed', organizationId: 'o1', i }));
    assert.ok(await builder.waitFor(await events.headPosition(), 5000));
    await builder.stop();
    // Not in the tree yet (the index computes the same leaf itself).
    for (let i = 0; i < 5; i++) await append('group-late', by('admin', 'platform_administrator', 'group.updated', { groupId: 'late', organizationId: 'o1', i }));

    const index = new SqliteAuditIndex(join(dir.path, 'audit.sqlite'), events, undefined, (event) => cipher.open(event), { personKeys: { file: keysFile, wrappingKey }, ledgerFile });
    index.start();
    // Whatever fails below, nothing is left open (the test process would not end).
    const closeAll = async () => {
      await index.close();
      keys.close();
      await events.close();
      tree.close();
    };
    try {
      await index.waitFor(await events.headPosition(), 5000);
      await events.scavenge({ categories: ['doomed'], removable: (_stream, kept) => kept.slice(0, -1).map((event) => event.revision) });
      assert.equal(await index.forgetSubject('legacy-subject'), 4);

      const expected = async (query: AuditQuery) => (await index.page(query, 10_000)).map((record) => `${JSON.stringify(toAuditEntry(record))}\n`);
      const exported = async (query: AuditQuery, limit: number) => {
        const lines: string[] = [];
        let fast = 0;
        let current = query;
        for (;;) {
          const page = await index.exportPage(current, limit);
          assert.ok(page, 'the embedded store exports from the index');
          for (const item of page.items) {
            if (typeof item === 'string') fast++;
            lines.push(typeof item === 'string' ? item : ndjsonLine(item as AuditRecord, undefined));
          }
          if (page.read < limit || page.last === undefined) break;
          current = { ...current, after: page.last };
        }
        return { lines, fast };
      };

      const queries: AuditQuery[] = [
        { order: 'asc' },
        { order: 'desc' },
        { order: 'asc', organizationId: 'o1' },
        { order: 'desc', types: ['group.*'] },
        { order: 'asc', types: ['group.created', 'project.*'], organizationId: 'o1' },
        { order: 'asc', actor: 'svc-robot' },
        { order: 'asc', resource: 'g1', from: new Date(Date.now() - 60_000), to: new Date(Date.now() + 60_000) },
      ];
      for (const query of queries) {
        const want = await expected(query);
        assert.ok(want.length > 0, JSON.stringify(query));
        for (const limit of [7, 1000]) {
          const { lines } = await exported(query, limit);
          assert.deepEqual(lines, want, `${JSON.stringify(query)}, pages of ${limit}`);
        }
      }
      const all = await exported({ order: 'asc' }, 1000);
      // The user (sealed), 40 group rows from admins and robots, 4 sealed actors, 4 forgotten ones,
      // 2 tombstones and 1 doomed row kept, 5 after the tree stopped.
      assert.equal(all.lines.length, 1 + 40 + 4 + 4 + 3 + 5);
      assert.equal(all.lines.filter((line) => line.includes('"type":"$tombstone"')).length, 2);
      assert.equal(all.fast, 40 + 1 + 5, 'the lines that can be are finished in the index');
      // Every line's leaf is the tree's leaf at its position (where the tree has one).
      const entries = all.lines.map((line) => JSON.parse(line) as { position: string; leafHash: string });
      const leaves = tree.leafHashesAt(entries.map((entry) => parsePosition(entry.position)));
      assert.equal(leaves.size, entries.length - 5);
      for (const entry of entries) if (leaves.has(entry.position)) assert.equal(entry.leafHash, leaves.get(entry.position)!.toString('base64'), entry.position);
      assert.ok(all.lines.some((line) => line.includes(`"name":${JSON.stringify(name)}`)), 'sealed data is shown opened');

    } finally {
      await closeAll();
    }
    // Sealed rows keep no line parts (nothing of the person in clear beside the names the index forgets on erasure),
    // and a forgotten subject leaves none behind.
    const raw = new Database(join(dir.path, 'audit.sqlite'), { readonly: true });
    const parts = JSON.stringify(raw.prepare('SELECT line_prefix FROM audit_entries').all());
    raw.close();
    assert.ok(!parts.includes(email) && !parts.includes('legacy-subject') && !parts.includes('198.51.100.1'));
    assert.ok(!readFileSync(join(dir.path, 'audit.sqlite')).includes('legacy-subject'));
  });

  test('the filer takes each leaf from the tree where the tree has it (and computes the rest)', async () => {
    assert.equal(openLeafReader(join(dir.path, 'no-such-ledger.sqlite')), undefined);
    const events = new SqliteEventStore(join(dir.path, 'leaves-events.sqlite'));
    const ledgerFile = join(dir.path, 'leaves-ledger.sqlite');
    const tree = new SqliteMerkleTree(ledgerFile);
    const builder = new LedgerBuilder(events, tree, createLogger('silent'));
    builder.start();
    for (let i = 0; i < 3; i++) await events.appendToStream('group-g', [by('admin', 'platform_administrator', 'group.updated', { groupId: 'g', organizationId: 'o', i })], { expectedRevision: 'any' });
    assert.ok(await builder.waitFor(await events.headPosition(), 5000));
    await builder.stop();
    await events.appendToStream('group-g', [by('admin', 'platform_administrator', 'group.updated', { groupId: 'g', organizationId: 'o', i: 3 })], { expectedRevision: 'any' });
    // A marker in the tree's first leaf: an export that shows it read the leaf from the tree, not from the event.
    const marker = Buffer.alloc(32, 7);
    const raw = new Database(ledgerFile);
    raw.prepare('UPDATE merkle_nodes SET hash = ? WHERE level = 0 AND idx = 0').run(marker);
    raw.close();
    const index = new SqliteAuditIndex(join(dir.path, 'leaves-audit.sqlite'), events, undefined, undefined, { ledgerFile });
    try {
      index.start();
      await index.waitFor(await events.headPosition(), 5000);
      const page = await index.exportPage({ order: 'asc' }, 10);
      const leaves = page!.items.map((item) => (JSON.parse(item as string) as { leafHash: string }).leafHash);
      assert.equal(leaves.length, 4);
      assert.equal(leaves[0], marker.toString('base64'), 'read from the tree');
      const records = await index.page({ order: 'asc' }, 10);
      assert.deepEqual(leaves.slice(1), records.slice(1).map((record) => toAuditEntry(record).leafHash), 'the rest as computed from the events');
    } finally {
      await index.close();
      await events.close();
      tree.close();
    }
  });
});
