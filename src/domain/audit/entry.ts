import { eventLeafHash } from '../ledger/leaf.js';
import type { AuditRecord } from '../../ports/audit-log.js';
import { positionToString, type RecordedEvent } from '../../ports/event-store.js';
import { attribute } from './attribution.js';
import { TOMBSTONE_EVENT_TYPE } from '../retention.js';

/**
 * One audit-log entry as the API, the exports and the CLI show it: the event
 * as stored (data and metadata unchanged, so its leaf hash can be recomputed
 * from the entry), where it belongs, who did it and from where.
 */
export interface AuditEntry {
  readonly position: string;
  readonly id: string;
  readonly type: string;
  readonly time: string;
  readonly organizationID: string | null;
  readonly resource: { readonly kind: string; readonly id: string };
  readonly actor: { readonly kind: string; readonly id: string; readonly name: string | null };
  readonly correlationID: string;
  readonly source: { readonly address: string; readonly userAgent: string | null } | null;
  readonly stream: string;
  readonly revision: number;
  readonly data: unknown;
  readonly metadata: unknown;
  /** Base64 of the RFC 9162 leaf hash of the event's canonical form (the ledger's leaf). */
  readonly leafHash: string;
  /**
   * Present when personal data was sealed (crypto-shredding): `data` and
   * `metadata` as stored, which is what `leafHash` covers; `data` and
   * `metadata` above are opened (or `[erased]`).
   */
  readonly stored?: { readonly data: unknown; readonly metadata: unknown };
}

/** The leaf an event has in the ledger: a retention tombstone keeps its original's. */
const storedLeafHash = (event: RecordedEvent): Buffer => {
  const kept = event.type === TOMBSTONE_EVENT_TYPE ? (event.data as { leafHash?: unknown } | null)?.leafHash : undefined;
  return typeof kept === 'string' ? Buffer.from(kept, 'base64') : eventLeafHash(event);
};

/** Base64 of the entry's leaf hash: the tree's leaf when given, else computed from the event as stored. */
export const entryLeafHash = (record: AuditRecord, leafHash?: Buffer): string => (leafHash ?? storedLeafHash(record.stored ?? record.event)).toString('base64');

/**
 * The entry of a record. `leafHash`: the event's leaf as the ledger tree
 * already holds it (the same value, without hashing again); computed from
 * the event when not given.
 */
export function toAuditEntry(record: AuditRecord, leafHash?: Buffer): AuditEntry {
  const { event } = record;
  const metadata = event.metadata ?? ({} as RecordedEvent['metadata']);
  const source = metadata.source;
  return {
    position: positionToString(event.position),
    id: metadata.eventId ?? '',
    type: event.type,
    time: metadata.occurredAt ?? '',
    organizationID: record.organizationId,
    resource: { kind: record.resource.kind, id: record.resource.id },
    actor: { kind: metadata.actor?.kind ?? 'system', id: metadata.actor?.subject ?? '', name: record.actorName },
    correlationID: metadata.correlationId ?? '',
    source: source ? { address: source.address, userAgent: source.userAgent ?? null } : null,
    stream: event.streamName,
    revision: event.revision,
    // An export writes the same fields in this order itself (src/domain/audit/ndjson-line.ts): keep both alike.
    data: event.data,
    metadata: event.metadata,
    leafHash: entryLeafHash(record, leafHash),
    ...(record.stored && { stored: { data: record.stored.data, metadata: record.stored.metadata } }),
  };
}

/**
 * Entries straight from a log read in order (the CLI offline, without the
 * index): the attribution's per-stream memory is kept here, bounded; actor
 * names as they were, from the user events read before.
 */
export class OfflineAttribution {
  private readonly streams = new Map<string, string>();
  private readonly names = new Map<string, string>();

  constructor(private readonly maxStreams = 100_000) {}

  record(event: RecordedEvent): AuditRecord {
    const data = (event.data ?? {}) as Record<string, unknown>;
    const attribution = attribute(event, this.streams.get(event.streamName));
    if (attribution.organizationId !== null) {
      this.streams.delete(event.streamName);
      this.streams.set(event.streamName, attribution.organizationId);
      if (this.streams.size > this.maxStreams) this.streams.delete(this.streams.keys().next().value!);
    }
    if ((event.type === 'user.created' || event.type === 'user.updated') && typeof data['subject'] === 'string' && typeof data['name'] === 'string') {
      this.names.set(`${attribution.organizationId ?? ''}\u0000${data['subject']}`, data['name']);
    }
    const actor = event.metadata?.actor;
    let actorName: string | null = null;
    if (actor?.kind === 'user') actorName = this.names.get(`${attribution.organizationId ?? ''}\u0000${actor.subject}`) ?? null;
    else if (actor && actor.kind !== 'system') actorName = actor.subject;
    return { ...attribution, event, actorName };
  }
}

/** The CSV export's columns, in order. */
export const CSV_COLUMNS = [
  'position',
  'id',
  'time',
  'type',
  'organizationID',
  'resourceKind',
  'resourceID',
  'actorKind',
  'actorID',
  'actorName',
  'correlationID',
  'sourceAddress',
  'sourceUserAgent',
  'leafHash',
  'data',
] as const;

/**
 * One CSV cell (RFC 4180 quoting). A cell a spreadsheet would take for a
 * formula (starting with = + - @, or a tab or carriage return) gets a
 * leading apostrophe, so that opening an export runs nothing.
 */
export function csvCell(value: string | number | null): string {
  let text = value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvHeader = (): string => `${CSV_COLUMNS.join(',')}\r\n`;

export function csvLine(entry: AuditEntry): string {
  return (
    [
      entry.position,
      entry.id,
      entry.time,
      entry.type,
      entry.organizationID,
      entry.resource.kind,
      entry.resource.id,
      entry.actor.kind,
      entry.actor.id,
      entry.actor.name,
      entry.correlationID,
      entry.source?.address ?? null,
      entry.source?.userAgent ?? null,
      entry.leafHash,
      JSON.stringify(entry.data),
    ]
      .map(csvCell)
      .join(',') + '\r\n'
  );
}
