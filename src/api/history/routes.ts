import { z } from 'zod';
import type { ResourceHistory } from '../../projections/resource-history.js';
import type { AccessControl } from '../auth/access-control.js';
import { InvalidRequestError, NotFoundHttpError } from '../http/errors.js';
import { defineRoute, type RouteDefinition } from '../http/route.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** The cursor: the position of the last version of the previous page, opaque to clients. */
const encodeCursor = (position: bigint): string => Buffer.from(`h1:${position}`).toString('base64url');
function decodeCursor(cursor: string): bigint {
  const match = /^h1:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new InvalidRequestError('cursor: not a cursor of this history (use the "next" of a previous page)');
  return BigInt(match[1]!);
}

export const historyQuerySchema = z
  .object({
    limit: z
      .string()
      .regex(/^\d{1,4}$/, 'must be a decimal integer')
      .transform(Number)
      .pipe(z.number().int().min(1).max(MAX_LIMIT))
      .default(DEFAULT_LIMIT),
    cursor: z.string().max(200).optional(),
  })
  .strict();

const patchOperationSchema = z
  .object({
    op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
    path: z.string(),
    value: z.unknown().optional(),
    from: z.string().optional(),
  })
  .meta({ id: 'jsonPatchOperation' });

export const resourceVersionSchema = z
  .object({
    revision: z.number().int().min(1),
    time: z.string(),
    actor: z.object({ kind: z.string(), id: z.string() }),
    type: z.string(),
    position: z.string(),
    changes: z.array(patchOperationSchema),
  })
  .meta({ id: 'resourceVersion' });

export const resourceHistorySchema = z
  .object({ items: z.array(resourceVersionSchema), next: z.string().nullable() })
  .meta({ id: 'resourceHistory' });

/**
 * `<GET path>/history` for every single-resource GET that names its resource
 * (`history` on the route): the resource's versions, oldest first, each read
 * by that GET route's own handler against the read models folded up to it
 * (src/projections/resource-history.ts). Needs the route's read permission
 * and read on identity:audit.
 */
export function historyRoutes(deps: {
  routes: readonly RouteDefinition<any, any, any>[];
  history: ResourceHistory;
  access: AccessControl;
}): RouteDefinition<any, any, any>[] {
  const { history, access } = deps;
  return deps.routes
    .filter((route) => route.method === 'get' && route.history !== undefined && typeof route.access === 'object')
    .map((route) => {
      const { kind, idParam } = route.history!;
      return defineRoute({
        method: 'get',
        path: `${route.path}/history`,
        summary: `The history of one resource (${kind}): every version, with what changed as an RFC 6902 JSON Patch. Also requires read on identity:audit.`,
        tags: [...route.tags, 'audit'],
        access: route.access,
        request: { ...(route.request?.params && { params: route.request.params }), query: historyQuerySchema },
        responses: { 200: { description: 'The versions, oldest first.', schema: resourceHistorySchema } },
        handler: async (input) => {
          const params = input.params as Record<string, string>;
          const organizationId = params['organizationID']!;
          await access.require(input.caller, { organizationId }, 'identity:audit', 'read');
          const id = params[idParam]!;
          // The GET route's handler, as the API shows the resource; not found is "does not exist (then)".
          const read = async () => {
            try {
              const reply = await route.handler({ ...input, query: {} });
              const schema = route.responses[reply.status]?.schema;
              return schema && reply.body !== undefined ? schema.parse(reply.body) : reply.body;
            } catch (error) {
              if (error instanceof NotFoundHttpError) return undefined;
              throw error;
            }
          };
          const query = input.query as z.infer<typeof historyQuerySchema>;
          const page = await history.page({ organizationId, kind, id }, read, {
            limit: query.limit,
            ...(query.cursor !== undefined && { after: decodeCursor(query.cursor) }),
          });
          if (!page) throw new NotFoundHttpError(`${kind} ${id} has no history in organization ${organizationId}`);
          return {
            status: 200,
            body: {
              items: page.items.map(({ position, ...version }) => ({ ...version, position: String(position) })),
              next: page.next === undefined ? null : encodeCursor(page.next),
            },
          };
        },
      });
    });
}
