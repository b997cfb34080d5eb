/**
 * The floor of an export's per-row cost, without the service (issue 11): in
 * one process, on a kept `bench:audit` data folder, CPU time per row of
 *   - the reference: the plain scan of bench:audit (each row JSON.stringify'd);
 *   - "JS line": what the service's export does per row at its leanest: one index page, the
 *     events and the ledger's leaves read by position range, `metadata` parsed, the NDJSON
 *     line built field by field (src/domain/audit/ndjson-line.ts), encoded to bytes;
 *   - "SQL line": one joined query (audit.sqlite with events.sqlite and ledger.sqlite
 *     attached) where SQLite builds the line itself; JavaScript adds the leaf hash in base64.
 * Rounds alternate the three. No HTTP, no sealed data to open, no service heap: what it
 * shows is how close to 0.5× of the scan each shape can come at best.
 *
 *   node dist/scripts/bench-audit-floor.js DIR [--rounds 3]
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { EventRow } from '../src/infra/sqlite/sqlite-event-store.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node dist/scripts/bench-audit-floor.js DIR [--rounds 3]');
const at = process.argv.indexOf('--rounds');
const rounds = at >= 0 ? Number(process.argv[at + 1]) : 3;

const db = new Database(join(dir, 'audit.sqlite'), { readonly: true });
db.prepare('ATTACH DATABASE ? AS log').run(join(dir, 'events.sqlite'));
db.prepare('ATTACH DATABASE ? AS ledger').run(join(dir, 'ledger.sqlite'));
const terms = new Map((db.prepare('SELECT id, value FROM audit_terms').all() as Array<{ id: number; value: string }>).map((row) => [row.id, row.value]));
const cpuPerRow = (pass: () => number): { rows: number; microseconds: number } => {
  const before = process.cpuUsage();
  const rows = pass();
  const used = process.cpuUsage(before);
  return { rows, microseconds: (used.user + used.system) / rows };
};

const reference = db.prepare('SELECT position, stream_name, revision, type, data, metadata FROM log.events ORDER BY position');
const scan = () => {
  let rows = 0;
  let bytes = 0;
  for (const row of reference.iterate()) {
    bytes += JSON.stringify(row).length;
    rows++;
  }
  return bytes > 0 ? rows : 0;
};

const sqlLine = db
  .prepare(
    `SELECT '{"position":"' || a.position || '/' || a.prepare || '","id":' || json_quote(e.metadata ->> '$.eventId') || ',"type":' || json_quote(e.type)
      || ',"time":' || json_quote(e.metadata ->> '$.occurredAt') || ',"organizationID":' || json_quote(o.value) || ',"resource":{"kind":' || json_quote(k.value)
      || ',"id":' || json_quote(a.resource_id) || '},"actor":{"kind":' || json_quote(coalesce(e.metadata ->> '$.actor.kind', 'system'))
      || ',"id":' || json_quote(coalesce(e.metadata ->> '$.actor.subject', '')) || ',"name":' || json_quote(a.actor_name)
      || '},"correlationID":' || json_quote(coalesce(e.metadata ->> '$.correlationId', ''))
      || ',"source":' || coalesce(json_object('address', e.metadata ->> '$.source.address', 'userAgent', e.metadata ->> '$.source.userAgent'), 'null')
      || ',"stream":' || json_quote(e.stream_name) || ',"revision":' || e.revision || ',"data":' || e.data || ',"metadata":' || e.metadata || ',"leafHash":"',
      n.hash, a.seq
    FROM audit_entries a CROSS JOIN log.events e ON e.position = a.position
      LEFT JOIN audit_terms o ON o.id = a.organization_id JOIN audit_terms k ON k.id = a.resource_kind
      CROSS JOIN ledger.merkle_leaves l ON l.commit_position = a.position CROSS JOIN ledger.merkle_nodes n ON n.level = 0 AND n.idx = l.leaf_index
    WHERE a.seq > ? ORDER BY a.seq LIMIT 1000`,
  )
  .raw();
const viaSql = () => {
  let rows = 0;
  let bytes = 0;
  for (let after = 0; ; ) {
    const page = sqlLine.all(after) as Array<[string, Buffer, number]>;
    if (page.length === 0) break;
    let chunk = '';
    for (const [line, hash] of page) chunk += `${line}${hash.toString('base64')}"}\n`;
    bytes += Buffer.byteLength(chunk);
    rows += page.length;
    after = page[page.length - 1]![2];
  }
  return bytes > 0 ? rows : 0;
};

interface IndexRow {
  seq: number;
  position: number;
  prepare: number;
  organization_id: number | null;
  resource_kind: number;
  resource_id: string;
  actor_name: string | null;
}
const index = db.prepare('SELECT seq, position, prepare, organization_id, resource_kind, resource_id, actor_name FROM audit_entries WHERE seq > ? ORDER BY seq LIMIT 1000');
const events = db.prepare('SELECT position, stream_name, revision, type, data, metadata FROM log.events WHERE position BETWEEN ? AND ? ORDER BY position');
const leaves = db.prepare(
  'SELECT l.commit_position AS c, n.hash AS hash FROM ledger.merkle_leaves l CROSS JOIN ledger.merkle_nodes n ON n.level = 0 AND n.idx = l.leaf_index WHERE l.commit_position BETWEEN ? AND ?',
);
const json = JSON.stringify as (value: unknown) => string;
const viaJs = () => {
  let rows = 0;
  let bytes = 0;
  for (let after = 0; ; ) {
    const page = index.all(after) as IndexRow[];
    if (page.length === 0) break;
    const low = page[0]!.position;
    const high = page[page.length - 1]!.position;
    const byPosition = new Map((events.all(low, high) as EventRow[]).map((event) => [event.position, event]));
    const hashes = new Map((leaves.all(low, high) as Array<{ c: number; hash: Buffer }>).map((leaf) => [leaf.c, leaf.hash]));
    let chunk = '';
    for (const row of page) {
      const event = byPosition.get(row.position)!;
      const metadata = JSON.parse(event.metadata) as { eventId: string; occurredAt: string; correlationId: string; actor?: { kind: string; subject: string }; source?: { address: string; userAgent: string | null } };
      const source = metadata.source;
      chunk +=
        `{"position":"${row.position}/${row.prepare}","id":${json(metadata.eventId)},"type":${json(event.type)},"time":${json(metadata.occurredAt)}` +
        `,"organizationID":${json(row.organization_id === null ? null : terms.get(row.organization_id))},"resource":{"kind":${json(terms.get(row.resource_kind))},"id":${json(row.resource_id)}}` +
        `,"actor":{"kind":${json(metadata.actor?.kind ?? 'system')},"id":${json(metadata.actor?.subject ?? '')},"name":${json(row.actor_name)}},"correlationID":${json(metadata.correlationId)}` +
        `,"source":${source ? `{"address":${json(source.address)},"userAgent":${json(source.userAgent ?? null)}}` : 'null'}` +
        `,"stream":${json(event.stream_name)},"revision":${event.revision},"data":${event.data},"metadata":${event.metadata},"leafHash":"${hashes.get(row.position)!.toString('base64')}"}\n`;
    }
    bytes += Buffer.byteLength(chunk);
    rows += page.length;
    after = page[page.length - 1]!.seq;
  }
  return bytes > 0 ? rows : 0;
};

const results: Record<string, number[]> = { scan: [], 'JS line': [], 'SQL line': [] };
let rowCount = 0;
for (let round = 0; round < rounds; round++) {
  for (const [name, pass] of [
    ['scan', scan],
    ['JS line', viaJs],
    ['SQL line', viaSql],
  ] as const) {
    const { rows, microseconds } = cpuPerRow(pass);
    rowCount = rows;
    results[name]!.push(microseconds);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const scanMedian = median(results['scan']!);
console.log(`| pass (${rowCount.toLocaleString('en')} rows, median of ${rounds}) | CPU µs per row | scan / pass |`);
console.log('| --- | ---: | ---: |');
for (const [name, values] of Object.entries(results)) console.log(`| ${name} | ${median(values).toFixed(2)} | ${(scanMedian / median(values)).toFixed(2)}× |`);
