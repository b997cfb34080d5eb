import { type Attribution, attribute } from '../../src/domain/audit/attribution.js';
import { matchesFilter } from '../../src/domain/audit/filter.js';
import { type AuditLog, type AuditQuery, type AuditRecord, auditPosition } from '../../src/ports/audit-log.js';
import type { EventStore, GlobalPosition, RecordedEvent } from '../../src/ports/event-store.js';

/** Events read from the log per page. */
const PAGE = 1000;

/**
 * An AuditLog for unit tests of what reads it (time travel): no index at all,
 * every query scans the log from its start (readAll in pages) and attributes
 * each event on the way, with the same filter the offline CLI applies. The
 * service uses the indexed adapter (SqliteAuditIndex).
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
      if (!matchesFilter(ScanningAuditLog.record(event, attribution), query)) continue;
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
      const record = ScanningAuditLog.record(event, attribution);
      if (matchesFilter(record, query)) yield record;
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
