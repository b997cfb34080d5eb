import { z } from 'zod';
import { defineRoute } from '../http/route.js';

export interface ReadinessProbe {
  status(): { ready: boolean; position?: string; failures: Record<string, string> };
}

const readinessSchema = z
  .object({ status: z.enum(['ready', 'not_ready']), position: z.string().optional(), failures: z.record(z.string(), z.string()) })
  .meta({ id: 'readiness' });

export function healthRoutes(probe: ReadinessProbe) {
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
      summary: 'Readiness: the read models have caught up with the log.',
      tags: ['health'],
      access: 'public',
      responses: {
        200: { description: 'Ready.', schema: readinessSchema },
        503: { description: 'Not ready yet, or a projection failed.', schema: readinessSchema },
      },
      handler: async () => {
        const { ready, position, failures } = probe.status();
        return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not_ready', position, failures } };
      },
    }),
  ];
}
