import { z } from 'zod';
import { UNREADABLE_PROBLEMS } from '../../domain/upcasting.js';
import type { UnreadableEventsStatus } from '../../infra/events/unreadable-events.js';
import { defineRoute } from '../http/route.js';

export interface ReadinessProbe {
  status(): {
    ready: boolean;
    position?: string;
    target?: string;
    failures: Record<string, string>;
    skipped?: number;
    replayedEvents?: number;
    snapshot?: z.infer<typeof snapshotSchema>;
  };
}

/** The events this version could not read (src/infra/events/unreadable-events.ts). */
export interface UnreadableEventsProbe {
  status(): UnreadableEventsStatus;
}

const unreadableEventsSchema = z
  .object({
    count: z.number().int().describe('Distinct events skipped since start: of a type or schema version this version does not know, or refused by its schema.'),
    byProblem: z.record(z.enum(UNREADABLE_PROBLEMS), z.number().int()),
    skippedByReadModels: z.number().int().describe('Of those, how many the read models passed over.'),
    last: z
      .object({
        streamName: z.string(),
        revision: z.number().int(),
        position: z.string(),
        type: z.string(),
        schemaVersion: z.number().int(),
        problem: z.enum(UNREADABLE_PROBLEMS),
        detail: z.string(),
      })
      .optional()
      .describe('The most recently found one: where it is and why it cannot be read.'),
  })
  .meta({ id: 'unreadableEvents' });

const snapshotSchema = z
  .object({
    restored: z.boolean().describe('This start loaded the read models from their snapshot and applied only the events after it.'),
    restoredPosition: z.string().optional().describe('The position the loaded snapshot stood at.'),
    reason: z.string().optional().describe('Why no snapshot was loaded: none yet, changed projections, another log, an unreadable file.'),
    savedPosition: z.string().optional().describe('The position of the last snapshot this process saved.'),
  })
  .meta({ id: 'readModelSnapshot' });

const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    position: z.string().optional().describe('The last event the read models applied.'),
    target: z.string().optional().describe('The head of the log at start: ready once the read models reach it.'),
    failures: z.record(z.string(), z.string()),
    unreadableEvents: unreadableEventsSchema,
    replayedEvents: z.number().int().optional().describe('Events the read models applied from start until they were first ready: the tail after their snapshot, or the whole log.'),
    snapshot: snapshotSchema.optional().describe('The in-memory read models\' snapshot (absent with MongoDB).'),
    lagEvents: z.number().int().optional().describe('Events between the log\'s head and the last one the read models applied; more than READY_MAX_LAG_EVENTS is not ready.'),
  })
  .meta({ id: 'readiness' });

const NONE: UnreadableEventsProbe = {
  status: () => ({ count: 0, byProblem: Object.fromEntries(UNREADABLE_PROBLEMS.map((p) => [p, 0])) as UnreadableEventsStatus['byProblem'] }),
};

/** How far the read models are behind the log's head, and how far they may be while ready (0: no limit). */
export interface LagProbe {
  readonly maxEvents: number;
  behind(): Promise<number | undefined>;
}

export function healthRoutes(probe: ReadinessProbe, unreadable: UnreadableEventsProbe = NONE, lag?: LagProbe) {
  return [
    defineRoute({
      method: 'get',
      path: '/healthz',
      summary: 'Liveness: the process is up.',
      tags: ['health'],
      access: 'public',
      responses: { 200: { description: 'Alive.', schema: z.object({ status: z.literal('ok') }) } },
      handler: async () => ({ status: 200, body: { status: 'ok' } }),
    }),
    defineRoute({
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: the read models have caught up with the log. Events this version cannot read are skipped and reported here, never a reason to be unready.',
      tags: ['health'],
      access: 'public',
      responses: {
        200: { description: 'Ready.', schema: readinessSchema },
        503: { description: 'Not ready yet, or a projection failed.', schema: readinessSchema },
      },
      handler: async () => {
        const { ready: caughtUp, position, target, failures, skipped, replayedEvents, snapshot } = probe.status();
        const unreadableEvents = { ...unreadable.status(), skippedByReadModels: skipped ?? 0 };
        let ready = caughtUp;
        // Far behind the log (a stalled subscription, an instance that cannot keep up): its reads would be stale.
        const lagEvents = lag && lag.maxEvents > 0 ? await lag.behind() : undefined;
        if (lag && lagEvents !== undefined && lagEvents > lag.maxEvents) {
          ready = false;
          failures.lag = `the read models are ${lagEvents} events behind the log (READY_MAX_LAG_EVENTS is ${lag.maxEvents})`;
        }
        return {
          status: ready ? 200 : 503,
          body: { status: ready ? 'ready' : 'not_ready', position, target, failures, unreadableEvents, replayedEvents, snapshot, lagEvents },
        };
      },
    }),
  ];
}
