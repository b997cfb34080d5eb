/**
 * The audit log from the command line (docs/audit.md):
 *
 *   npm run audit -- export [--org ID] [filters] --format ndjson|csv [--out FILE]
 *   npm run audit -- events [--org ID] [filters] [--limit N] [--cursor C]
 *   npm run audit -- export --data-dir DIR [--org ID] [filters] --format ndjson|csv [--out FILE]
 *
 * Filters: --type T (repeatable, `user.*` for a prefix), --actor, --resource-kind,
 * --resource, --from, --to (RFC 3339), --correlation-id, --order asc|desc.
 *
 * Over HTTP it reads the service's API at AUDIT_URL (or --url) with the bearer
 * token AUDIT_TOKEN (or --token): without --org, the platform's log (platform
 * administrators). With --data-dir it reads DATA_DIR/events.sqlite directly,
 * read-only, with no service running, and builds the same entries (the same
 * mapping, attribution as it goes, names as they were); an offline export is
 * in log order (oldest first), as an export over HTTP is unless --order desc,
 * and is not recorded in the log.
 */
import Database from 'better-sqlite3';
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { RESOURCE_KINDS, type ResourceKind } from '../src/domain/audit/attribution.js';
import { csvHeader, csvLine, OfflineAttribution, toAuditEntry } from '../src/domain/audit/entry.js';
import { matchesFilter } from '../src/domain/audit/filter.js';
import type { AuditFilter } from '../src/ports/audit-log.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { PersonKeys } from '../src/infra/crypto/person-keys.js';
import { PersonalDataCipher } from '../src/infra/events/encrypting-event-store.js';
import { SecretSealer } from '../src/infra/secrets/sealer.js';

const USAGE = `usage:
  npm run audit -- export [--org ID] [filters] --format ndjson|csv [--out FILE] [--url URL] [--token TOKEN]
  npm run audit -- events [--org ID] [filters] [--limit N] [--cursor C] [--url URL] [--token TOKEN]
  npm run audit -- export --data-dir DIR [--org ID] [filters] --format ndjson|csv [--out FILE]
filters: --type T (repeatable; user.* for a prefix) --actor ID --resource-kind KIND --resource ID
         --from TIME --to TIME (RFC 3339) --correlation-id ID --order asc|desc
HTTP: AUDIT_URL and AUDIT_TOKEN, or --url and --token.`;

class UsageError extends Error {}

const OPTIONS = {
  org: { type: 'string' },
  type: { type: 'string', multiple: true },
  actor: { type: 'string' },
  'resource-kind': { type: 'string' },
  resource: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'correlation-id': { type: 'string' },
  order: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** The API's query parameters from the options. */
function queryOf(values: Values, page: boolean): URLSearchParams {
  const query = new URLSearchParams();
  for (const type of values.type ?? []) query.append('type', type);
  const single: Array<[keyof Values, string]> = [
    ['actor', 'actor'],
    ['resource-kind', 'resourceKind'],
    ['resource', 'resource'],
    ['from', 'from'],
    ['to', 'to'],
    ['correlation-id', 'correlationID'],
    ['order', 'order'],
    ['cursor', 'cursor'],
  ];
  if (page) single.push(['limit', 'limit']);
  for (const [option, parameter] of single) {
    const value = values[option];
    if (typeof value === 'string') query.set(parameter, value);
  }
  return query;
}

const output = (file: string | undefined): Writable => (file ? createWriteStream(file, { mode: 0o600 }) : process.stdout);

async function overHttp(command: string, values: Values): Promise<number> {
  const base = values.url ?? process.env['AUDIT_URL'];
  const token = values.token ?? process.env['AUDIT_TOKEN'];
  if (!base || !token) throw new UsageError('set AUDIT_URL and AUDIT_TOKEN (or --url and --token), or read a data directory with --data-dir');
  const path = values.org ? `/api/v1/organizations/${encodeURIComponent(values.org)}/events` : '/api/v1/events';
  const query = queryOf(values, command === 'events');
  // An export is in log order unless asked otherwise (as offline); a page is newest first, as the API answers.
  if (command === 'export' && !query.has('order')) query.set('order', 'asc');
  const accept = command === 'events' ? 'application/json' : values.format === 'csv' ? 'text/csv' : 'application/x-ndjson';
  const url = `${base.replace(/\/+$/, '')}${path}${query.size > 0 ? `?${query}` : ''}`;
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept } });
  if (response.status !== 200) {
    console.error(`${response.status}: ${await response.text()}`);
    return 1;
  }
  if (command === 'events') {
    const body = await response.json();
    await write(output(values.out), `${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>), output(values.out));
  return 0;
}

const write = (out: Writable, text: string) =>
  new Promise<void>((resolve, reject) => {
    out.write(text, (error) => (error ? reject(error) : resolve()));
  });

interface EventRow {
  position: number | bigint;
  stream_name: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
}

/** The filter from the options, checked as the API checks it. */
function filterOf(values: Values): AuditFilter {
  const time = (name: 'from' | 'to') => {
    const value = values[name];
    if (value === undefined) return undefined;
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) || Number.isNaN(Date.parse(value))) throw new UsageError(`--${name}: must be an RFC 3339 time`);
    return new Date(value);
  };
  const kind = values['resource-kind'];
  if (kind !== undefined && !(RESOURCE_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--resource-kind: one of ${RESOURCE_KINDS.join(', ')}`);
  const from = time('from');
  const to = time('to');
  return {
    ...(values.org !== undefined && { organizationId: values.org }),
    ...(values.type && { types: values.type }),
    ...(values.actor !== undefined && { actor: values.actor }),
    ...(kind !== undefined && { resourceKind: kind as ResourceKind }),
    ...(values.resource !== undefined && { resource: values.resource }),
    ...(from && { from }),
    ...(to && { to }),
    ...(values['correlation-id'] !== undefined && { correlationId: values['correlation-id'] }),
  };
}

/** Export from a data directory: one read-only pass over the log in order, constant memory (bounded stream memory). */
async function offline(values: Values): Promise<number> {
  const file = join(values['data-dir']!, 'events.sqlite');
  if (!existsSync(file)) throw new UsageError(`${file}: no event log there`);
  if (values.order === 'desc') throw new UsageError('--order desc: an offline export is in log order (oldest first); export over HTTP for newest first');
  const filter = filterOf(values);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  const out = output(values.out);
  const attribution = new OfflineAttribution();
  // Personal data is sealed in the log (docs/crypto-shredding.md): opened with the data directory's keys, `[erased]` for the erased.
  const keysFile = join(values['data-dir']!, 'person-keys.sqlite');
  const keys = existsSync(keysFile) ? new PersonKeys(keysFile, SecretSealer.forDataDir(values['data-dir']!).deriveKey('person-keys')) : undefined;
  const cipher = keys ? new PersonalDataCipher(keys) : undefined;
  const csv = values.format === 'csv';
  let buffer = csv ? csvHeader() : '';
  let count = 0;
  try {
    // Tombstones too: a removed event keeps its place and its leaf hash in the export (the verifier needs every position).
    const rows = db.prepare(`SELECT position, stream_name, revision, type, data, metadata FROM events ORDER BY position`).iterate() as Iterable<EventRow>;
    for (const row of rows) {
      const position = BigInt(row.position);
      const stored: RecordedEvent = {
        streamName: row.stream_name,
        revision: row.revision,
        position: { commit: position, prepare: position },
        type: row.type,
        data: JSON.parse(row.data),
        metadata: JSON.parse(row.metadata),
      };
      const event = cipher ? cipher.open(stored) : stored;
      const record = { ...attribution.record(event), ...(event !== stored && { stored }) };
      if (!matchesFilter(record, filter)) continue;
      const entry = toAuditEntry(record);
      buffer += csv ? csvLine(entry) : `${JSON.stringify(entry)}\n`;
      count++;
      if (buffer.length >= 64 * 1024) {
        const chunk = buffer;
        buffer = '';
        if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
      }
    }
    await write(out, buffer);
    if (out !== process.stdout) await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  } finally {
    db.close();
    keys?.close();
  }
  console.error(`${count} entries exported`);
  return 0;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || positionals.length !== 1 || (command !== 'export' && command !== 'events')) throw new UsageError(values.help ? '' : 'say export or events');
  if (command === 'export' && values.format !== 'ndjson' && values.format !== 'csv') throw new UsageError('--format ndjson or --format csv');
  if (values['data-dir'] !== undefined) {
    if (command !== 'export') throw new UsageError('--data-dir: only export reads a data directory');
    return offline(values);
  }
  return overHttp(command, values);
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      if (error.message) console.error(error.message);
      console.error(USAGE);
    } else {
      console.error(error instanceof Error ? error.message : String(error));
    }
    process.exitCode = 2;
  },
);
