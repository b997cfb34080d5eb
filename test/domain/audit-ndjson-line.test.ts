import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ndjsonLine } from '../../src/domain/audit/ndjson-line.js';
import { toAuditEntry } from '../../src/domain/audit/entry.js';
import { eventLeafHash } from '../../src/domain/ledger/leaf.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { AuditRecord } from '../../src/ports/audit-log.js';
import type { GlobalPosition, NewEvent, RecordedEvent } from '../../src/ports/event-store.js';
import { testEvent } from '../support/events.js';
import { tempDir } from '../support/temp.js';

// An export writes each line field by field with the stored JSON text copied in
// (src/domain/audit/ndjson-line.ts); the pages and the CLI serialise the entry object.
// Both must give the same bytes, whatever the record holds.
describe('an export line', () => {
  const dir = tempDir();
  after(() => dir.remove());

  const awkward = 'quote " backslash \\ newline \n tab \t nul \u0000 é 😀 \u2028';
  const events: NewEvent[] = [
    testEvent('user.created', { subject: 'ada', name: awkward, nested: { list: [1, 2.5, null, true], empty: {} } }),
    { ...testEvent('user.updated', { name: 'Ada' }), metadata: { ...testEvent().metadata, actor: { subject: 'ada@example.com', kind: 'user', id: 'u1' }, source: { address: '203.0.113.7', userAgent: awkward } } },
    { ...testEvent('group.created', []), metadata: { ...testEvent().metadata, actor: { subject: 'svc', kind: 'service_account' }, source: { address: '::1', userAgent: null } } },
    testEvent('audit.exported', { filter: { order: 'asc' }, count: 0 }),
  ];

  test('equals JSON.stringify of the entry, read by range and by single positions', async () => {
    const store = new SqliteEventStore(join(dir.path, 'events.sqlite'));
    const positions: GlobalPosition[] = [];
    for (const [i, event] of events.entries()) positions.push((await store.appendToStream(`stream-${i}`, [event], { expectedRevision: 'any' })).position);
    // Padding: the first and last positions alone are far apart, and read one by one (IN) instead of as a range.
    for (let i = 0; i < 20; i++) await store.appendToStream('padding', [testEvent()], { expectedRevision: 'any' });
    const last = (await store.appendToStream('last', [testEvent('user.deleted', { subject: 'ada' })], { expectedRevision: 'any' })).position;
    const reads: RecordedEvent[][] = [await store.readPositions(positions), await store.readPositions([positions[0]!, last])];
    assert.deepEqual(
      reads[1]!.map((event) => event.position),
      [positions[0], last],
    );
    // A range read with a gap answers only the positions asked for.
    const gap = [positions[0]!, positions[2]!, positions[3]!];
    assert.deepEqual(
      (await store.readPositions(gap)).map((event) => event.position),
      gap,
    );
    const shapes: Array<Pick<AuditRecord, 'organizationId' | 'resource' | 'actorName'>> = [
      { organizationId: 'org-1', resource: { kind: 'user', id: 'u1' }, actorName: awkward },
      { organizationId: null, resource: { kind: 'platform', id: 'platform' }, actorName: null },
    ];
    let compared = 0;
    for (const read of reads) {
      for (const event of read) {
        for (const shape of shapes) {
          const record: AuditRecord = { ...shape, event };
          for (const leaf of [undefined, eventLeafHash(event)]) {
            const line = ndjsonLine(record, leaf);
            assert.equal(line, `${JSON.stringify(toAuditEntry(record, leaf))}\n`);
            compared++;
          }
        }
      }
    }
    assert.equal(compared, (events.length + 2) * shapes.length * 2);
    await store.close();
  });

  test('a record shown opened, or without its stored text, is the entry serialised', () => {
    const event = { ...testEvent('user.created', { name: 'Ada' }), streamName: 's', revision: 0, position: { commit: 1n, prepare: 1n } } as RecordedEvent;
    const record: AuditRecord = { organizationId: 'o', resource: { kind: 'user', id: 'u' }, actorName: 'Ada', event, stored: { ...event, data: { name: 'sealed' } } };
    assert.equal(ndjsonLine(record, undefined), `${JSON.stringify(toAuditEntry(record))}\n`);
    assert.match(ndjsonLine(record, undefined), /"stored":\{"data":\{"name":"sealed"\}/);
  });
});
