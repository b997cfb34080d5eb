import { type AuditExported, auditStream } from '../../domain/audit/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import { toNewEvent } from '../pipeline.js';

/** Records what was read out of the audit log. It decides nothing: each export is appended whatever the stream's revision. */
export class AuditCommands {
  constructor(private readonly events: EventStore) {}

  async recordExport(exported: AuditExported['data'], meta: CommandMetadata): Promise<GlobalPosition> {
    const event: AuditExported = { type: 'audit.exported', data: exported };
    const appended = await this.events.appendToStream(auditStream(exported.organizationId, meta.now), [toNewEvent(event, meta)], { expectedRevision: 'any' });
    return appended.position;
  }
}
