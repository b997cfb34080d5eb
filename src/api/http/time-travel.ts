import { z } from 'zod';
import type { Moment } from '../../projections/time-travel.js';
import type { ReadModelStore } from '../../ports/read-models.js';
import { InvalidRequestError } from './errors.js';

/** The query parameters of a read as of a moment (issue 11); taken off the query before the route's own schema sees it. */
export const TIME_TRAVEL_PARAMETERS = ['asOf', 'asOfPosition'] as const;

/** RFC 3339 date-time: a full date, time and offset (Z or ±hh:mm). */
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** Documented on every route that reads the past. */
export const timeTravelQuerySchema = z.object({
  asOf: z.string().optional().meta({ description: 'RFC 3339 time: answer as the service would have then (needs read on identity:audit).' }),
  asOfPosition: z
    .string()
    .optional()
    .meta({ description: 'A position of the log (as the audit log shows it): answer as of just after that event (needs read on identity:audit).' }),
});

/** How a route reads the past: the organization's read models at a moment, and running the handler against them. */
export interface TimeTravelGate {
  storeAt(organizationId: string, moment: Moment): Promise<ReadModelStore>;
  run<R>(store: ReadModelStore, fn: () => Promise<R>): Promise<R>;
}

const single = (query: Record<string, unknown>, name: string): string | undefined => {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidRequestError(`${name} must be given once`);
  return value;
};

/** Parse asOf / asOfPosition (at most one of them) and answer the rest of the query. */
export function takeMoment(query: unknown): { moment?: Moment; rest: Record<string, unknown> } {
  const all = (query ?? {}) as Record<string, unknown>;
  if (!TIME_TRAVEL_PARAMETERS.some((name) => Object.hasOwn(all, name))) return { rest: all };
  const rest = { ...all };
  for (const name of TIME_TRAVEL_PARAMETERS) delete rest[name];
  const asOf = single(all, 'asOf');
  const asOfPosition = single(all, 'asOfPosition');
  if (asOf !== undefined && asOfPosition !== undefined) throw new InvalidRequestError('give asOf or asOfPosition, not both');
  if (asOf !== undefined) {
    const time = Date.parse(asOf);
    if (!RFC_3339.test(asOf) || Number.isNaN(time)) throw new InvalidRequestError(`asOf: "${asOf.slice(0, 64)}" is not an RFC 3339 time such as 2026-01-31T12:00:00Z`);
    return { moment: { asOf: new Date(time) }, rest };
  }
  if (asOfPosition === undefined || !/^\d{1,19}$/.test(asOfPosition)) {
    throw new InvalidRequestError(`asOfPosition: "${String(asOfPosition).slice(0, 64)}" is not a position (a decimal integer)`);
  }
  return { moment: { asOfPosition: BigInt(asOfPosition) }, rest };
}
