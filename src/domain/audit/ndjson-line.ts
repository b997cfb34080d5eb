import { entryLeafHash, toAuditEntry } from './entry.js';
import type { Attribution } from './attribution.js';
import type { AuditRecord } from '../../ports/audit-log.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import { positionToString } from '../../ports/event-store.js';
import { storedJsonOf } from '../../ports/stored-json.js';

const json = JSON.stringify as (value: unknown) => string;

/**
 * An NDJSON line of an export is exactly `JSON.stringify(toAuditEntry(record, leafHash))`
 * and a newline. It is written here field by field, in the entry's order:
 *
 *   prefix  {"position":…,"id":…,"type":…,"time":…,"organizationID":…,"resource":{…},
 *           "actor":{"kind":…,"id":…,"name":…},"correlationID":…,"source":…,"stream":…,"revision":…,"data":
 *   the event's stored `data` text, LINE_METADATA, its stored `metadata` text,
 *   LINE_LEAF, the leaf hash in base64, LINE_END.
 *
 * The prefix depends only on the event as stored, on where the index files it
 * and on the actor's name as it was when it acted, so the embedded store's
 * index keeps it beside each row (audit-filer.ts): an export then has SQLite
 * join it with the log's text and the ledger's leaf, with no event object and
 * no parse (sqlite-audit-index.ts, exportPage). The stored `data` and
 * `metadata` text is copied as it is: the store wrote it with JSON.stringify,
 * so these are the same bytes.
 *
 * Records this shortcut does not cover go through the entry object: sealed
 * data shown opened (`stored`), events without their stored text (other
 * stores), and values JSON.stringify would leave out of an object (undefined).
 * test/domain/audit-ndjson-line.test.ts compares both on every kind of record.
 */
export const LINE_METADATA = ',"metadata":';
export const LINE_LEAF = ',"leafHash":"';
/** The line's last characters before its newline. */
export const LINE_CLOSE = '"}';
export const LINE_END = `${LINE_CLOSE}\n`;

/** The line up to the stored `data`; undefined when the shortcut does not cover the event. */
export function linePrefix(event: RecordedEvent, attribution: Attribution, actorName: string | null): string | undefined {
  const metadata = event.metadata ?? ({} as RecordedEvent['metadata']);
  const { actor, source } = metadata;
  if (source && source.address === undefined) return undefined;
  return (
    `{"position":"${positionToString(event.position)}","id":${json(metadata.eventId ?? '')},"type":${json(event.type)},"time":${json(metadata.occurredAt ?? '')}` +
    `,"organizationID":${json(attribution.organizationId)},"resource":{"kind":${json(attribution.resource.kind)},"id":${json(attribution.resource.id)}}` +
    `,"actor":{"kind":${json(actor?.kind ?? 'system')},"id":${json(actor?.subject ?? '')},"name":${json(actorName)}}` +
    `,"correlationID":${json(metadata.correlationId ?? '')}` +
    `,"source":${source ? `{"address":${json(source.address)},"userAgent":${json(source.userAgent ?? null)}}` : 'null'}` +
    `,"stream":${json(event.streamName)},"revision":${json(event.revision)},"data":`
  );
}

/** One NDJSON line of an export (see above). */
export function ndjsonLine(record: AuditRecord, leafHash: Buffer | undefined): string {
  const { event } = record;
  const text = record.stored ? undefined : storedJsonOf(event);
  const prefix = text && record.actorName !== undefined ? linePrefix(event, record, record.actorName) : undefined;
  if (!text || prefix === undefined) return `${json(toAuditEntry(record, leafHash))}\n`;
  return `${prefix}${text.data}${LINE_METADATA}${text.metadata}${LINE_LEAF}${entryLeafHash(record, leafHash)}${LINE_END}`;
}
