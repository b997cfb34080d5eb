import { z } from 'zod';
import { RESOURCE_KINDS } from '../../domain/audit/attribution.js';

/** The audit log's page bounds (issue 11). */
export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 1000;

const decimal = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a decimal integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const typePattern = z
  .string()
  .max(128)
  .regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*|\*)?$/, 'must be an event type, or a prefix ending in * (user.*)');

const rfc3339 = z.iso.datetime({ offset: true, message: 'must be an RFC 3339 time (2026-01-31T12:00:00Z)' });

export const auditQuerySchema = z
  .strictObject({
    type: z
      .union([typePattern, z.array(typePattern).max(20)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional()
      .meta({ description: 'Event types, repeatable; a trailing * is a prefix (user.*). Any of them.' }),
    actor: z.string().min(1).max(320).optional().meta({ description: 'The acting subject (actor.id).' }),
    resourceKind: z.enum(RESOURCE_KINDS).optional(),
    resource: z.string().min(1).max(256).optional().meta({ description: 'A resource id.' }),
    from: rfc3339.optional().meta({ description: 'Inclusive lower bound on the time.' }),
    to: rfc3339.optional().meta({ description: 'Inclusive upper bound on the time.' }),
    correlationID: z.string().min(1).max(256).optional(),
    order: z.enum(['asc', 'desc']).default('desc'),
    limit: decimal(1, AUDIT_MAX_LIMIT).default(AUDIT_DEFAULT_LIMIT).meta({ description: `At most ${AUDIT_MAX_LIMIT}; ignored by exports.` }),
    cursor: z.string().max(512).optional().meta({ description: "The previous page's `next`, with the same filter and order." }),
  })
  .refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) <= Date.parse(q.to), { message: 'from must not be after to', path: ['from'] });
export type AuditQueryParameters = z.infer<typeof auditQuerySchema>;

export const auditEntrySchema = z
  .object({
    position: z.string().meta({ description: 'The global position in the log.' }),
    id: z.string().meta({ description: 'The event id.' }),
    type: z.string(),
    time: z.string(),
    organizationID: z.string().nullable(),
    resource: z.object({ kind: z.string(), id: z.string() }),
    actor: z.object({ kind: z.string(), id: z.string(), name: z.string().nullable().meta({ description: 'The display name when it acted.' }) }),
    correlationID: z.string(),
    source: z.object({ address: z.string(), userAgent: z.string().nullable() }).nullable(),
    stream: z.string(),
    revision: z.number().int(),
    data: z.unknown(),
    metadata: z.unknown().meta({ description: 'As stored, personal data opened: with stream, revision, type, data and position (or `stored` when present) it gives the leaf hash.' }),
    leafHash: z.string().meta({ description: "Base64 of the event's RFC 9162 leaf hash (the ledger's leaf at this position)." }),
    stored: z
      .object({ data: z.unknown(), metadata: z.unknown() })
      .optional()
      .meta({ description: 'Only when the event holds sealed personal data: data and metadata as stored (what leafHash covers); data and metadata above show it opened, or "[erased]".' }),
  })
  .meta({ id: 'auditEntry' });

export const auditPageSchema = z
  .object({
    items: z.array(auditEntrySchema),
    next: z.string().nullable().meta({ description: 'The cursor of the next page; null at the end.' }),
  })
  .meta({ id: 'auditPage' });
