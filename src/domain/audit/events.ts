import { z } from 'zod';

export const AUDIT_EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type AuditExportFormat = (typeof AUDIT_EXPORT_FORMATS)[number];

export const auditEventSchemas = {
  /**
   * Someone exported the audit log (issue 11): the query as asked (the API's
   * parameters, without the cursor's internals), the format, and how many
   * entries went out. Appended after the stream ended, also when the client
   * went away (then `completed` is false).
   */
  'audit.exported': z.object({
    /** Absent: the platform's log (GET /api/v1/events). */
    organizationId: z.string().optional(),
    filter: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
    format: z.enum(AUDIT_EXPORT_FORMATS),
    count: z.number().int().min(0),
    completed: z.boolean(),
  }),
} as const;

export type AuditExported = { type: 'audit.exported'; data: z.infer<(typeof auditEventSchemas)['audit.exported']> };

/** One stream per organization (or the platform) and UTC day: exports are few, and a stream stays short. */
export const auditStream = (organizationId: string | undefined, at: Date): string => `audit-${organizationId ?? 'platform'}-${at.toISOString().slice(0, 10)}`;
