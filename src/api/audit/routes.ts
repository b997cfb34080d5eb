import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import type { AuditCommands } from '../../commands/audit/handlers.js';
import { type AuditEntry, csvHeader, csvLine, toAuditEntry } from '../../domain/audit/entry.js';
import type { AuditExportFormat } from '../../domain/audit/events.js';
import type { AuditFilter, AuditLog, AuditQuery, AuditRecord } from '../../ports/audit-log.js';
import { type EventStore, type GlobalPosition, parsePosition, positionToString } from '../../ports/event-store.js';
import type { Caller } from '../auth/caller.js';
import { ForbiddenHttpError, InvalidRequestError, TooManyRequestsError } from '../http/errors.js';
import { defineRoute, type RouteReply } from '../http/route.js';
import { ndjsonLine } from '../../domain/audit/ndjson-line.js';
import type { WriteContext } from '../write-context.js';
import { type AuditQueryParameters, auditPageSchema, auditQuerySchema } from './schemas.js';
import { z } from 'zod';

const TAGS = ['audit'];
/** Bytes gathered before one write to the socket during an export. */
const EXPORT_CHUNK = 256 * 1024;
/** Entries read from the index per step of an export. */
const EXPORT_PAGE = 1000;

const organizationParams = z.strictObject({ organizationID: z.string().min(1).max(128) });

export interface AuditRouteDependencies {
  readonly log: AuditLog;
  /** The log (for its head: read-your-writes). */
  readonly events: EventStore;
  readonly commands: AuditCommands;
  readonly writes: WriteContext;
  /** The ledger tree's leaf at a position, when it has one (entries then need not hash the event again). */
  /** The ledger's leaf hashes of a page of events, keyed by `commit/prepare` (absent: not in the tree yet, computed from the event). */
  readonly leafHashesOf?: (positions: readonly GlobalPosition[]) => ReadonlyMap<string, Buffer>;
  /** How long a read waits at most for the index to file the log's head at request time. */
  readonly waitMs: number;
  /** Exports streaming at once on this instance (all callers), and per caller; more answer 429. */
  readonly exportLimits?: { readonly total: number; readonly perCaller: number };
}

/**
 * Exports in flight: an export holds a read of the index and a socket for as
 * long as the client reads, so a caller who opens many at once could hold the
 * instance's reads; each one is counted here, and released when it ends.
 */
export class ExportSlots {
  private total = 0;
  private readonly byCaller = new Map<string, number>();
  constructor(private readonly limits: { readonly total: number; readonly perCaller: number }) {}

  /** Takes a slot for the caller, or throws 429 when the instance or the caller has too many exports running. */
  take(caller: string): () => void {
    const mine = this.byCaller.get(caller) ?? 0;
    if (mine >= this.limits.perCaller) throw new TooManyRequestsError(5, `at most ${this.limits.perCaller} export(s) per caller at a time; wait for the running one to end`);
    if (this.total >= this.limits.total) throw new TooManyRequestsError(5, 'too many exports are running on this instance; try again in a moment');
    this.total++;
    this.byCaller.set(caller, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byCaller.get(caller) ?? 1) - 1;
      if (left === 0) this.byCaller.delete(caller);
      else this.byCaller.set(caller, left);
    };
  }
}

/** The query as a filter, without the page's position. */
function toFilter(query: AuditQueryParameters, organizationId: string | undefined): AuditFilter {
  return {
    ...(organizationId !== undefined && { organizationId }),
    ...(query.type && { types: query.type }),
    ...(query.actor !== undefined && { actor: query.actor }),
    ...(query.resourceKind !== undefined && { resourceKind: query.resourceKind }),
    ...(query.resource !== undefined && { resource: query.resource }),
    ...(query.from !== undefined && { from: new Date(query.from) }),
    ...(query.to !== undefined && { to: new Date(query.to) }),
    ...(query.correlationID !== undefined && { correlationId: query.correlationID }),
  };
}

/** What a cursor is bound to: the scope, the filter and the order (not the limit). */
function filterDigest(query: AuditQueryParameters, organizationId: string | undefined): string {
  const bound = {
    organizationId: organizationId ?? null,
    type: query.type ? [...query.type].sort() : null,
    actor: query.actor ?? null,
    resourceKind: query.resourceKind ?? null,
    resource: query.resource ?? null,
    from: query.from ? new Date(query.from).toISOString() : null,
    to: query.to ? new Date(query.to).toISOString() : null,
    correlationID: query.correlationID ?? null,
    order: query.order,
  };
  return createHash('sha256').update(JSON.stringify(bound)).digest('base64url').slice(0, 22);
}

export const encodeCursor = (position: string, digest: string): string => Buffer.from(JSON.stringify({ p: position, f: digest })).toString('base64url');

/** The position a cursor continues after; a 400 for a cursor that is not one, or was made with another filter or order. */
function decodeCursor(cursor: string, digest: string): bigint {
  let decoded: { p?: unknown; f?: unknown };
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { p?: unknown; f?: unknown };
  } catch {
    throw new InvalidRequestError('cursor: not a cursor of this endpoint');
  }
  if (typeof decoded?.p !== 'string' || typeof decoded.f !== 'string' || !/^\d{1,19}\/\d{1,19}$/.test(decoded.p)) {
    throw new InvalidRequestError('cursor: not a cursor of this endpoint');
  }
  if (decoded.f !== digest) throw new InvalidRequestError('cursor: it was made for another filter or order; start again without it');
  return parsePosition(decoded.p).commit;
}

/** The format an export was asked for by its Accept header; undefined: a JSON page. */
function exportFormat(req: Request): AuditExportFormat | undefined {
  const accept = (req.get('accept') ?? '').toLowerCase();
  if (accept.includes('application/x-ndjson')) return 'ndjson';
  if (accept.includes('text/csv')) return 'csv';
  return undefined;
}

/** The query parameters as recorded in audit.exported (what was asked, minus the cursor's bytes). */
function recordedFilter(query: AuditQueryParameters): Record<string, string | string[]> {
  const filter: Record<string, string | string[]> = { order: query.order };
  for (const name of ['actor', 'resourceKind', 'resource', 'from', 'to', 'correlationID', 'cursor'] as const) {
    const value = query[name];
    if (value !== undefined) filter[name] = name === 'cursor' ? 'yes' : value;
  }
  if (query.type) filter['type'] = query.type;
  return filter;
}

/** Wait for the socket to take more, or for the client to go away. */
const drained = (res: Response) =>
  new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });

/**
 * The audit log over HTTP (issue 11, docs/audit.md): pages of entries on
 * the global position with an opaque cursor, and the same query exported
 * without a page limit as NDJSON or CSV (streamed, with back-pressure; the
 * export is recorded as audit.exported).
 */
export function auditRoutes(deps: AuditRouteDependencies) {
  const { log, events, commands, writes, waitMs, leafHashesOf } = deps;
  const slots = new ExportSlots(deps.exportLimits ?? { total: 4, perCaller: 1 });
  /** A page's entries, with the page's leaf hashes read in one go. */
  const entriesOf = (records: readonly AuditRecord[]): AuditEntry[] => {
    const hashes = leafHashesOf?.(records.map((record) => record.event.position));
    return records.map((record) => toAuditEntry(record, hashes?.get(positionToString(record.event.position))));
  };

  const answer = async (input: { query: AuditQueryParameters; req: Request; res: Response; caller: Caller; requestId: string }, organizationId: string | undefined): Promise<RouteReply> => {
    const { query, req } = input;
    const digest = filterDigest(query, organizationId);
    const after = query.cursor !== undefined ? decodeCursor(query.cursor, digest) : undefined;
    const auditQuery: AuditQuery = { ...toFilter(query, organizationId), order: query.order, ...(after !== undefined && { after }) };

    const format = exportFormat(req);
    // Before the wait, so that a burst of exports is refused at once rather than queued.
    const release = format === undefined ? undefined : slots.take(`${input.caller.kind}:${input.caller.subject}`);
    try {
      return await answerIn(input, organizationId, auditQuery, digest, format);
    } finally {
      release?.();
    }
  };

  const answerIn = async (
    input: { query: AuditQueryParameters; req: Request; res: Response; caller: Caller; requestId: string },
    organizationId: string | undefined,
    auditQuery: AuditQuery,
    digest: string,
    format: AuditExportFormat | undefined,
  ): Promise<RouteReply> => {
    const { query, req, res } = input;
    // Read-your-writes: whatever was in the log when the request came is in the index (bounded wait).
    await log.waitFor(await events.headPosition(), waitMs);

    if (format === undefined) {
      const records = await log.page(auditQuery, query.limit + 1);
      const items = entriesOf(records.slice(0, query.limit));
      const next = records.length > query.limit ? encodeCursor(items[items.length - 1]!.position, digest) : null;
      return { status: 200, body: { items, next } };
    }

    res.status(200);
    res.setHeader('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    res.setHeader('content-disposition', `attachment; filename="audit-${organizationId ?? 'platform'}.${format === 'csv' ? 'csv' : 'ndjson'}"`);
    let gone = false;
    const onClose = () => {
      gone = true;
    };
    res.on('close', onClose);
    let count = 0;
    let buffer = format === 'csv' ? csvHeader() : '';
    const send = async () => {
      const chunk = buffer;
      buffer = '';
      if (!res.write(chunk) && !gone) await drained(res);
    };
    try {
      // Page by page (the log's records() pages the same way), so that each page's leaf hashes are one read.
      // NDJSON on the embedded store: most lines come finished from the index (exportPage).
      let current = auditQuery;
      for (;;) {
        const fast = format === 'ndjson' ? await log.exportPage?.(current, EXPORT_PAGE) : undefined;
        const items = fast ? fast.items : await log.page(current, EXPORT_PAGE);
        const records = items.filter((item): item is AuditRecord => typeof item !== 'string');
        const hashes = records.length > 0 ? leafHashesOf?.(records.map((record) => record.event.position)) : undefined;
        for (const item of items) {
          if (gone || res.destroyed) break;
          if (typeof item === 'string') buffer += item;
          else {
            const hash = hashes?.get(positionToString(item.event.position));
            buffer += format === 'csv' ? csvLine(toAuditEntry(item, hash)) : ndjsonLine(item, hash);
          }
          count++;
          if (buffer.length >= EXPORT_CHUNK) await send();
        }
        const read = fast ? fast.read : items.length;
        const last = fast ? fast.last : records[records.length - 1]?.event.position.commit;
        if (gone || res.destroyed || read < EXPORT_PAGE || last === undefined) break;
        current = { ...current, after: last };
      }
      if (!gone && buffer.length > 0) await send();
      if (!gone) res.end();
    } catch (error) {
      // Headers are gone: the client sees a cut stream, the log says why.
      req.log?.error({ err: error }, 'audit export failed');
      res.destroy();
      gone = true;
    } finally {
      res.off('close', onClose);
    }
    try {
      await commands.recordExport(
        { ...(organizationId !== undefined && { organizationId }), filter: recordedFilter(query), format, count, completed: !gone },
        writes.meta(input.caller, input.requestId),
      );
    } catch (error) {
      // The answer is gone already: an export that could not be recorded is an error in the service's log.
      req.log?.error({ err: error, format, count }, 'an audit export could not be recorded');
    }
    return { status: 200, streamed: true };
  };

  const responses = {
    200: {
      description: 'A page of audit entries, newest first unless order=asc. With Accept: application/x-ndjson or text/csv, every entry of the query (no page limit) streamed in that format.',
      schema: auditPageSchema,
    },
  };

  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/events',
      summary: "The organization's audit log: everything that happened in and to it, filtered, in pages on the global position; or exported as NDJSON or CSV.",
      tags: TAGS,
      access: { family: 'identity:audit', operation: 'read' },
      request: { params: organizationParams, query: auditQuerySchema },
      responses,
      handler: async ({ params, ...input }) => answer(input, params.organizationID),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/events',
      summary: "The whole platform's audit log (platform administrators), filtered, in pages; or exported as NDJSON or CSV.",
      tags: TAGS,
      access: 'authenticated',
      request: { query: auditQuerySchema },
      responses,
      handler: async (input) => {
        if (!input.caller.platformAdministrator) throw new ForbiddenHttpError('the platform audit log is for platform administrators; use /api/v1/organizations/{organizationID}/events');
        return answer(input, undefined);
      },
    }),
  ];
}
