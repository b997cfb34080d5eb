import type { AuditFilter } from '../../ports/audit-log.js';
import type { AuditRecord } from '../../ports/audit-log.js';

/** Whether a type matches a type filter (exact types, or prefixes with a trailing `*`). */
export const typeMatches = (type: string, patterns: readonly string[]): boolean =>
  patterns.some((pattern) => (pattern.endsWith('*') ? type.startsWith(pattern.slice(0, -1)) : type === pattern));

/**
 * The audit filter applied to one record, as the index applies it in SQL:
 * for readers without the index (the CLI reading a data directory).
 */
export function matchesFilter(record: AuditRecord, filter: AuditFilter): boolean {
  const { event } = record;
  if (filter.organizationId !== undefined && record.organizationId !== filter.organizationId) return false;
  if (filter.types && filter.types.length > 0 && !typeMatches(event.type, filter.types)) return false;
  if (filter.actor !== undefined && event.metadata?.actor?.subject !== filter.actor) return false;
  if (filter.resourceKind !== undefined && record.resource.kind !== filter.resourceKind) return false;
  if (filter.resource !== undefined && record.resource.id !== filter.resource) return false;
  if (filter.correlationId !== undefined && event.metadata?.correlationId !== filter.correlationId) return false;
  const time = Date.parse(event.metadata?.occurredAt ?? '');
  if (filter.from !== undefined && !(time >= filter.from.getTime())) return false;
  if (filter.to !== undefined && !(time <= filter.to.getTime())) return false;
  if (filter.atOrBefore !== undefined && event.position.commit > filter.atOrBefore) return false;
  return true;
}
