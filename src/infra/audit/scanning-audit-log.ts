import { type Attribution, attribute } from '../../domain/audit/attribution.js';
import type { AuditFilter, AuditLog, AuditQuery, AuditRecord } from '../../ports/audit-log.js';
import type { EventStore, GlobalPosition, RecordedEvent } from '../../ports/event-store.js';

/** Events read from the log per page. */
const PAGE = 1000;

/** The position the audit log pages on: the global position's commit part (SQLite's sequence). */
export const auditPosition = (event: Pick<RecordedEvent, 'position'>): bigint => event.position.commit;

/** Does the type match one of the patterns (exact, or a prefix written with a trailing `*`)? */
const typeMatches = (type: string, patterns: readonly string[]): boolean =>
  patterns.some((pattern) => (pattern.endsWith('*') ? type.startsWith(pattern.slice(0, -1)) : type === pattern));

/** Does the attributed event pass the filter? */
export function matchesAuditFilter(event: RecordedEvent, attribution: Attribution, filter: AuditFilter): boolean {
  if (filter.organizationId !== undefined && attribution.organizationId !== filter.organizationId) return false;
  if (filter.resourceKind !== undefined && attribution.resource.kind !== filter.resourceKind) return false;
  if (filter.resource !== undefined && attribution.resource.id !== filter.resource) return false;
  if (filter.types !== undefined && filter.types.length > 0 && !typeMatches(event.type, filter.types)) return false;
  if (filter.actor !== undefined && event.metadata.actor.subject !== filter.actor) return false;
  if (filter.correlationId !== undefined && event.metadata.correlationId !== filter.correlationId) return false;
  if (filter.atOrBefore !== undefined && auditPosition(event) > filter.atOrBefore) return false;
  if (filter.from !== undefined || filter.to !== undefined) {
    const time = Date.parse(event.metadata.occurredAt);
    if (filter.from !== undefined && time < filter.from.getTime()) return false;
    if (filter.to !== undefined && time > filter.to.getTime()) return false;
  }
  return true;
}

/**
 * The fallback AuditLog: no index at all, every query scans the log from its
 * start (readAll in pages) and attributes each event on the way, remembering
 * each stream's organization. Correct and simple, and linear in the size of
 * the log per query: fine for tests and small installations; the indexed
 * adapter (SqliteAuditIndex) replaces it where it is wired.
 */
export class ScanningAuditLog implements AuditLog {
  constructor(private readonly events: EventStore) {}

  /** Every event of the log in order, with its attribution, up to `until` (inclusive) when given. */
  private async *scan(until?: bigint): AsyncGenerator<{ event: RecordedEvent; attribution: Attribution }> {
    const streamOrganizations = new Map<string, string | null>();
    let after: GlobalPosition | undefined;
    for (;;) {
      const page = await this.events.readAll({ ...(after && { after }), maxCount: PAGE });
      if (page.length === 0) return;
      for (const event of page) {
        if (until !== undefined && auditPosition(event) > until) return;
        const attribution = attribute(event, streamOrganizations.get(event.streamName));
        if (attribution.organizationId !== null) streamOrganizations.set(event.streamName, attribution.organizationId);
        yield { event, attribution };
      }
      after = page[page.length - 1]!.position;
      if (page.length < PAGE) return;
    }
  }

  private static record(event: RecordedEvent, attribution: Attribution): AuditRecord {
    return { ...attribution, event, actorName: null };
  }

  async page(query: AuditQuery, limit: number): Promise<AuditRecord[]> {
    if (query.order === 'asc') {
      const found: AuditRecord[] = [];
      for await (const record of this.records(query)) {
        found.push(record);
        if (found.length >= limit) break;
      }
      return found;
    }
    // Descending: the last `limit` matches before the cursor, newest first.
    const until = minimum(query.atOrBefore, query.after === undefined ? undefined : query.after - 1n);
    const last: AuditRecord[] = [];
    for await (const { event, attribution } of this.scan(until)) {
      if (!matchesAuditFilter(event, attribution, query)) continue;
      last.push(ScanningAuditLog.record(event, attribution));
      if (last.length > limit) last.shift();
    }
    return last.reverse();
  }

  async *records(query: AuditQuery): AsyncIterable<AuditRecord> {
    if (query.order === 'desc') {
      // Pages newest first, each a scan: only for completeness, the fallback is not made for it.
      let after = query.after;
      for (;;) {
        const page = await this.page({ ...query, ...(after !== undefined && { after }) }, PAGE);
        for (const record of page) yield record;
        if (page.length < PAGE) return;
        after = auditPosition(page[page.length - 1]!.event);
      }
    }
    for await (const { event, attribution } of this.scan(query.atOrBefore)) {
      if (query.after !== undefined && auditPosition(event) <= query.after) continue;
      if (matchesAuditFilter(event, attribution, query)) yield ScanningAuditLog.record(event, attribution);
    }
  }

  async indexedPosition(): Promise<bigint | undefined> {
    const head = await this.events.headPosition();
    return head?.commit;
  }

  /** Nothing to wait for: every query reads the log itself. */
  async waitFor(): Promise<void> {}

  async close(): Promise<void> {}
}

const minimum = (a: bigint | undefined, b: bigint | undefined): bigint | undefined =>
  a === undefined ? b : b === undefined ? a : a < b ? a : b;
