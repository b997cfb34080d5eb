import { entryLeafHash, toAuditEntry } from '../../domain/audit/entry.js';
import type { AuditRecord } from '../../ports/audit-log.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import { positionToString } from '../../ports/event-store.js';
import { storedJsonOf } from '../../ports/stored-json.js';

const json = JSON.stringify as (value: unknown) => string;

/**
 * One NDJSON line of an export: exactly `JSON.stringify(toAuditEntry(record, leafHash))`
 * and a newline, written field by field in the entry's order, with the event's
 * stored `data` and `metadata` text copied as it is (no parse and serialise
 * again: the store wrote that text with JSON.stringify, so these are the same
 * bytes). An export writes a million of these; building the entry object first
 * and serialising it cost as much as reading the event.
 *
 * Records this shortcut does not cover go through the entry object: sealed
 * data shown opened (`stored`), events without their stored text (other
 * stores), and values JSON.stringify would leave out of an object (undefined).
 * test/api/audit-ndjson-line.test.ts compares both on every kind of record.
 */
export function ndjsonLine(record: AuditRecord, leafHash: Buffer | undefined): string {
  const { event } = record;
  const text = record.stored ? undefined : storedJsonOf(event);
  const metadata = event.metadata ?? ({} as RecordedEvent['metadata']);
  const { actor, source } = metadata;
  if (!text || record.actorName === undefined || (source && source.address === undefined)) return `${json(toAuditEntry(record, leafHash))}\n`;
  return (
    `{"position":"${positionToString(event.position)}","id":${json(metadata.eventId ?? '')},"type":${json(event.type)},"time":${json(metadata.occurredAt ?? '')}` +
    `,"organizationID":${json(record.organizationId)},"resource":{"kind":${json(record.resource.kind)},"id":${json(record.resource.id)}}` +
    `,"actor":{"kind":${json(actor?.kind ?? 'system')},"id":${json(actor?.subject ?? '')},"name":${json(record.actorName)}}` +
    `,"correlationID":${json(metadata.correlationId ?? '')}` +
    `,"source":${source ? `{"address":${json(source.address)},"userAgent":${json(source.userAgent ?? null)}}` : 'null'}` +
    `,"stream":${json(event.streamName)},"revision":${json(event.revision)},"data":${text.data},"metadata":${text.metadata}` +
    `,"leafHash":"${entryLeafHash(record, leafHash)}"}\n`
  );
}
