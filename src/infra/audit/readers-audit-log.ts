import type { AuditLog, AuditQuery, AuditRecord } from '../../ports/audit-log.js';
import type { GlobalPosition, RecordedEvent } from '../../ports/event-store.js';
import { TOMBSTONE_EVENT_TYPE } from '../../domain/retention.js';

/**
 * The audit index as projections need it (time travel, resource history):
 * each event read the way every reader reads it — personal data opened,
 * upcast to the current version and validated (EvolvingEventStore.read) —
 * and without retention's tombstones, which no projection folds.
 */
export class ReadersAuditLog implements AuditLog {
  constructor(
    private readonly index: AuditLog,
    private readonly read: (stored: RecordedEvent) => RecordedEvent,
    /** Read-your-writes: before a read, whatever the log held is filed (bounded by waitMs). */
    private readonly head: () => Promise<GlobalPosition | undefined> = async () => undefined,
    private readonly waitMs = 1000,
  ) {}

  private async caughtUp(): Promise<void> {
    await this.index.waitFor(await this.head(), this.waitMs);
  }

  private view(records: readonly AuditRecord[]): AuditRecord[] {
    const out: AuditRecord[] = [];
    for (const record of records) {
      const stored = record.stored ?? record.event;
      if (stored.type === TOMBSTONE_EVENT_TYPE) continue;
      out.push({ organizationId: record.organizationId, resource: record.resource, actorName: record.actorName, event: this.read(stored) });
    }
    return out;
  }

  async page(query: AuditQuery, limit: number): Promise<AuditRecord[]> {
    await this.caughtUp();
    return this.view(await this.index.page(query, limit));
  }

  async *records(query: AuditQuery): AsyncIterable<AuditRecord> {
    await this.caughtUp();
    for await (const record of this.index.records(query)) yield* this.view([record]);
  }

  async indexedPosition(): Promise<bigint | undefined> {
    await this.caughtUp();
    return this.index.indexedPosition();
  }

  waitFor(...args: Parameters<AuditLog['waitFor']>): Promise<void> {
    return this.index.waitFor(...args);
  }

  /** The index is closed by its owner. */
  async close(): Promise<void> {}
}
