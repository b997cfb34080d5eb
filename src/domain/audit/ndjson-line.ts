import { entryLeafHash, toAuditEntry } from './entry.js';
import type { Attribution } from './attribution.js';
import type { AuditRecord } from '../../ports/audit-log.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import { positionToString } from '../../ports/event-store.js';
import { storedJsonOf } from '../../ports/stored-json.js';

const json = JSON.stringify as (value: unknown) => string;

/**
 * An NDJSON line of an export is exactly `JSON.stringify(toAuditEntry(record, leafHash))`
 * and a newline. It is written here field by field, in the entry's order, in
 * five parts:
 *
 *   head  {"position":…,"id":…,"type":…,"time":…,"organizationID":…,"resource":{…},"actor":{"kind":…,"id":…,"name":
 *   name  the actor's name as the index holds it (JSON)
 *   tail  },"correlationID":…,"source":…,"stream":…,"revision":…,"data":
 *   the event's stored `data` text, `,"metadata":`, its stored `metadata` text,
 *   end   ,"leafHash":"<base64>"}
 *
 * The head and the tail depend only on the event as stored and on where the
 * index files it, so the embedded store's index keeps them beside each row
 * (audit-filer.ts): an export then joins them with the log's text and the
 * ledger's leaf, with no event object and no parse (sqlite-audit-index.ts).
 * The stored `data` and `metadata` text is copied as it is: the store wrote it
 * with JSON.stringify, so these are the same bytes.
 *
 * Records this shortcut does not cover go through the entry object: sealed
 * data shown opened (`stored`), events without their stored text (other
 * stores), and values JSON.stringify would leave out of an object (undefined).
 * test/domain/audit-ndjson-line.test.ts compares both on every kind of record.
 */

/** The line up to the actor's name. */
export function lineHead(event: RecordedEvent, attribution: Attribution): string {
  const metadata = event.metadata ?? ({} as RecordedEvent['metadata']);
  const actor = metadata.actor;
  return (
    `{"position":"${positionToString(event.position)}","id":${json(metadata.eventId ?? '')},"type":${json(event.type)},"time":${json(metadata.occurredAt ?? '')}` +
    `,"organizationID":${json(attribution.organizationId)},"resource":{"kind":${json(attribution.resource.kind)},"id":${json(attribution.resource.id)}}` +
    `,"actor":{"kind":${json(actor?.kind ?? 'system')},"id":${json(actor?.subject ?? '')},"name":`
  );
}

/** The line from after the actor's name up to the stored `data`; undefined when the shortcut does not cover the event. */
export function lineTail(event: RecordedEvent): string | undefined {
  const metadata = event.metadata ?? ({} as RecordedEvent['metadata']);
  const source = metadata.source;
  if (source && source.address === undefined) return undefined;
  return (
    `},"correlationID":${json(metadata.correlationId ?? '')}` +
    `,"source":${source ? `{"address":${json(source.address)},"userAgent":${json(source.userAgent ?? null)}}` : 'null'}` +
    `,"stream":${json(event.streamName)},"revision":${json(event.revision)},"data":`
  );
}

/** The whole line from its parts (see above); `leafHash` in base64. */
export const joinLine = (head: string, actorName: string | null, tail: string, data: string, metadata: string, leafHash: string): string =>
  `${head}${actorName === null ? 'null' : json(actorName)}${tail}${data},"metadata":${metadata},"leafHash":"${leafHash}"}\n`;

/** One NDJSON line of an export (see above). */
export function ndjsonLine(record: AuditRecord, leafHash: Buffer | undefined): string {
  const { event } = record;
  const text = record.stored ? undefined : storedJsonOf(event);
  const tail = text && record.actorName !== undefined ? lineTail(event) : undefined;
  if (!text || tail === undefined) return `${json(toAuditEntry(record, leafHash))}\n`;
  return joinLine(lineHead(event, record), record.actorName, tail, text.data, text.metadata, entryLeafHash(record, leafHash));
}
