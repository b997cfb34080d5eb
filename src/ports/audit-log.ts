import type { Attribution, ResourceKind } from '../domain/audit/attribution.js';
import type { GlobalPosition, RecordedEvent } from './event-store.js';

/**
 * The audit log port (issue 11): the event log read the way auditors ask for
 * it, by organization, type, actor, resource, time and correlation, in pages
 * on the global position. An adapter keeps an index beside the log (in the
 * service's own storage) and answers from it; the log stays the source of truth.
 */
export interface AuditFilter {
  /** Only events attributed to this organization (src/domain/audit/attribution.ts). */
  readonly organizationId?: string;
  /** Exact types, or prefixes written with a trailing `*` (`user.*`); any of them. */
  readonly types?: readonly string[];
  /** The acting subject's id (metadata.actor.subject). */
  readonly actor?: string;
  readonly resourceKind?: ResourceKind;
  /** A resource id. */
  readonly resource?: string;
  /** Inclusive bounds on metadata.occurredAt. */
  readonly from?: Date;
  readonly to?: Date;
  readonly correlationId?: string;
  /** Only events at or below this global position (time travel). */
  readonly atOrBefore?: bigint;
}

export interface AuditQuery extends AuditFilter {
  readonly order: 'asc' | 'desc';
  /** Exclusive: continue after this position in the query's order (the cursor). */
  readonly after?: bigint;
}

/** One event as the audit log files it. */
export interface AuditRecord extends Attribution {
  /** The event as readers see it: personal data opened, or `[erased]` (docs/crypto-shredding.md). */
  readonly event: RecordedEvent;
  /** The event exactly as stored (sealed personal data), when that differs from `event`: what its leaf hash covers. */
  readonly stored?: RecordedEvent;
  /** The actor's display name as it was when it acted; null when unknown (the system, a deleted-before-indexed actor). */
  readonly actorName: string | null;
}

/** A page of an NDJSON export (exportPage). */
export interface ExportPage {
  /** In the query's order: finished lines (with their newline), or records still to be written as lines. */
  readonly items: ReadonlyArray<string | AuditRecord>;
  /** The position of the last row read (the next page continues after it); undefined when none was. */
  readonly last: bigint | undefined;
  /** Rows read (fewer than asked: the query has no more). */
  readonly read: number;
}

export interface AuditLog {
  /** At most `limit` records in the query's order. */
  page(query: AuditQuery, limit: number): Promise<AuditRecord[]>;
  /**
   * At most `limit` entries of an NDJSON export, some as finished lines, where an
   * adapter can make them faster than from records (the embedded store). Absent, or
   * undefined: export from `page`.
   */
  exportPage?(query: AuditQuery, limit: number): Promise<ExportPage | undefined>;
  /** Every record of the query, read in pages as the consumer pulls (constant memory; for exports and replays). */
  records(query: AuditQuery): AsyncIterable<AuditRecord>;
  /** The newest position the index has filed; undefined when empty. */
  indexedPosition(): Promise<bigint | undefined>;
  /** Wait (bounded) until the index has filed the event at `position` (read-your-writes). */
  waitFor(position: GlobalPosition | undefined, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** The position the audit log pages on (cursors, `after`, `atOrBefore`): the global position's commit part. */
export const auditPosition = (event: Pick<RecordedEvent, 'position'>): bigint => event.position.commit;
