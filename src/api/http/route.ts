import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import type { EndpointFamily, Operation } from '../../domain/rbac/roles.js';
import type { AuditDenials } from '../../commands/audit/denials.js';
import type { AccessDenied } from '../../domain/audit/denials.js';
import { type AccessControl, MissingPermissionError } from '../auth/access-control.js';
import type { Caller } from '../auth/caller.js';
import { callerOf } from '../middleware/authenticate.js';
import { describeZodError, errorBodySchema, ForbiddenHttpError, InvalidRequestError, NotFoundHttpError } from './errors.js';
import type { ReadModelStore } from '../../ports/read-models.js';
import type { Idempotency } from './idempotency.js';
import { type TimeTravelGate, takeMoment, timeTravelQuerySchema } from './time-travel.js';
import type { ResourceKind } from '../../domain/audit/attribution.js';
import { ORGANIZATION_HEADER, resolveCallerOrganization } from '../middleware/caller-organization.js';
import { withoutReadOnlyFields } from './read-only-fields.js';
import type { ListFields } from '../../query/fields.js';

type AnyObjectSchema = z.ZodObject<z.ZodRawShape>;

export interface RouteInput<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly req: Request;
  readonly res: Response;
  /** The authenticated caller; routes with `access: 'public'` must not use it. */
  readonly caller: Caller;
  readonly requestId: string;
  /**
   * With `organization: 'caller'`: the organization the route acts in (the
   * caller's own, or the one a platform administrator named); else undefined.
   */
  readonly organizationId?: string;
}

export interface RouteReply {
  readonly status: number;
  readonly body?: unknown;
  /** An HTML page instead of JSON (the login pages). */
  readonly html?: string;
  /** A redirect (302) to this URL. */
  readonly redirect?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** The handler wrote the response itself (a streamed export): nothing more to send. */
  readonly streamed?: boolean;
}

export interface RouteDefinition<P extends AnyObjectSchema, Q extends AnyObjectSchema, B extends z.ZodType> {
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI style: /api/v1/organizations/{organizationID} */
  readonly path: string;
  readonly summary: string;
  readonly tags: readonly string[];
  /**
   * Who may call it: anyone; any authenticated caller (the handler checks
   * more); or callers holding the permission in the organization (and project)
   * named by the path's organizationID (and projectID).
   */
  readonly access: 'public' | 'authenticated' | { readonly family: EndpointFamily; readonly operation: Operation };
  readonly request?: { readonly params?: P; readonly query?: Q; readonly body?: B; readonly bodyType?: 'json' | 'form' };
  /** Status -> description and schema; the schema validates what the handler returns. */
  readonly responses: Readonly<Record<number, { readonly description: string; readonly schema?: z.ZodType; readonly html?: boolean }>>;
  readonly handler: (input: RouteInput<z.infer<P>, z.infer<Q>, z.infer<B>>) => Promise<RouteReply>;
  /**
   * The answer hands out a secret once (a client secret, a token, a temporary
   * password): a retry with the same Idempotency-Key gets it again for 10 minutes only.
   */
  readonly oneTimeSecret?: boolean;
  /**
   * A GET that answers as of a moment too (asOf, asOfPosition; docs/time-travel.md):
   * the handler runs against the organization's read models as they were then.
   * Routes without it answer 400 to those parameters.
   */
  readonly timeTravel?: boolean;
  /** A single-resource GET whose resource has a history at `<path>/history` (src/api/history/routes.ts). */
  readonly history?: { readonly kind: ResourceKind; readonly idParam: string };
  /**
   * 'caller': the path names no organization (the compatible APIs); the route
   * acts in the caller's own, which a platform administrator names in the
   * X-Organization-ID header (src/api/middleware/caller-organization.ts). The
   * `access` permission is checked there, and the handler gets it as `organizationId`.
   */
  readonly organization?: 'caller';
  /**
   * A deprecated route: marked so in the OpenAPI document, and every answer carries
   * `Deprecation: @<unix seconds of since>` (RFC 9745) and a Link to its successor.
   */
  readonly deprecated?: { readonly since: string; readonly successor: string };
  /**
   * A hot public route (userinfo, introspection, the token endpoint): served by the lean path in
   * front of express (src/api/http/lean-path.ts) when the request is a plain one, else by express.
   */
  readonly lean?: boolean;
  /** The handler's code fixes the shape of its answers: the response schemas document them and are not parsed on each answer. */
  readonly fixedResponses?: boolean;
  /** A list or search: the fields its read model declares, named in the OpenAPI document as `x-filterable`. */
  readonly filterable?: ListFields;
}

export const defineRoute = <P extends AnyObjectSchema = AnyObjectSchema, Q extends AnyObjectSchema = AnyObjectSchema, B extends z.ZodType = z.ZodUnknown>(
  route: RouteDefinition<P, Q, B>,
) => route as unknown as RouteDefinition<AnyObjectSchema, AnyObjectSchema, z.ZodType>;

const STANDARD_ERRORS: Record<number, string> = {
  400: 'Request failed validation.',
  401: 'Authentication failed or the access token has expired.',
  403: 'Request was denied by authorization.',
  404: 'Unable to find a resource.',
  409: 'The request conflicts with the current state.',
  500: 'An unexpected error occurred.',
};

/** Documented on every authenticated POST: a retry with the same key and body gets the first answer (24 hours). */
const idempotencyHeaderSchema = z.object({
  'Idempotency-Key': z
    .string()
    .max(255)
    .optional()
    .meta({ description: 'Makes a retry safe: the same key and body within 24 hours get the first answer again (a one-time secret only within 10 minutes); the same key with another body is a 422.' }),
});

/** Documented on the routes that act in the caller's organization. */
const organizationHeaderSchema = z.object({
  [ORGANIZATION_HEADER]: z
    .string()
    .max(128)
    .optional()
    .meta({ description: "The organization (its id or tenant number) a platform administrator acts in; others may only name their own." }),
});

const toExpressPath = (path: string): string => path.replace(/\{([^}]+)\}/g, ':$1');

function parseOrReject<S extends z.ZodType>(schema: S | undefined, value: unknown, where: string): z.infer<S> {
  if (!schema) return value as z.infer<S>;
  const result = schema.safeParse(value);
  if (!result.success) throw new InvalidRequestError(describeZodError(result.error, where));
  return result.data;
}

/** Register the route with express and with the OpenAPI document, from the same schemas. */
export function mountRoute(
  router: Router,
  registry: OpenAPIRegistry,
  guards: {
    readonly access: AccessControl;
    readonly authenticate: RequestHandler;
    /** Whether an organization exists (and is not yet deleted). */
    readonly organizationExists: (organizationId: string) => Promise<boolean>;
    /** Idempotency-Key for the authenticated POSTs. */
    readonly idempotency?: Idempotency;
    /** Records 403s (access.denied, sampled per caller and route); without it they are not recorded. */
    readonly denials?: AuditDenials;
    /** Reads as of a moment, for the routes with `timeTravel`. */
    readonly timeTravel?: TimeTravelGate;
    /** The organization with a tenant number, for routes with `organization: 'caller'`. */
    readonly organizationOfTenant?: (tenantId: number) => Promise<string | undefined>;
  },
  route: RouteDefinition<AnyObjectSchema, AnyObjectSchema, z.ZodType>,
): void {
  const isPublic = route.access === 'public';
  const responses: RouteConfig['responses'] = {};
  for (const [status, { description, schema, html }] of Object.entries(route.responses)) {
    responses[status] = schema
      ? { description, content: { 'application/json': { schema } } }
      : html
        ? { description, content: { 'text/html': { schema: z.string() } } }
        : { description };
  }
  for (const [status, description] of Object.entries(STANDARD_ERRORS)) {
    if ((status === '401' || status === '403') && isPublic) continue;
    responses[status] ??= { description, content: { 'application/json': { schema: errorBodySchema } } };
  }
  registry.registerPath({
    method: route.method,
    path: route.path,
    summary: route.summary,
    tags: [...route.tags],
    ...(isPublic ? {} : { security: [{ bearerAuth: [] }] }),
    ...(typeof route.access === 'object' && {
      description:
        `Requires ${route.access.operation} on ${route.access.family}` +
        (route.organization === 'caller' ? ` in the caller's organization (a platform administrator names it in ${ORGANIZATION_HEADER}).` : '.') +
        (route.deprecated ? ` Deprecated: use ${route.deprecated.successor}.` : ''),
    }),
    ...(route.deprecated && { deprecated: true }),
    ...(route.filterable && { 'x-filterable': Object.keys(route.filterable) }),
    request: {
      ...(((route.method === 'post' && !isPublic) || route.organization === 'caller') && {
        headers: z.object({
          ...(route.method === 'post' && !isPublic ? idempotencyHeaderSchema.shape : {}),
          ...(route.organization === 'caller' ? organizationHeaderSchema.shape : {}),
        }),
      }),
      ...(route.request?.params && { params: route.request.params }),
      ...(route.request?.query && !route.timeTravel && { query: route.request.query }),
      ...(route.timeTravel && { query: route.request?.query ? route.request.query.extend(timeTravelQuerySchema.shape) : timeTravelQuerySchema }),
      ...(route.request?.body && {
        body: {
          content: { [route.request.bodyType === 'form' ? 'application/x-www-form-urlencoded' : 'application/json']: { schema: route.request.body } },
          required: true,
        },
      }),
    },
    responses,
  });

  const authentication = isPublic ? [] : [guards.authenticate];
  router[route.method](toExpressPath(route.path), ...authentication, routeHandler(guards, route));
}

/** Marks a response the lean path (lean-path.ts) serves: its JSON answer is written without express's res.json. */
export const LEAN_RESPONSE = Symbol('lean response');

/** Writes a JSON answer as express's res.json does (same headers, no ETag: the app disables it), without its send machinery. */
function sendJson(res: Response, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

/** The request handler of a route: its checks, its handler and its answer (mounted on the router, or served by the lean path). */
export function routeHandler(
  guards: Parameters<typeof mountRoute>[2],
  route: RouteDefinition<AnyObjectSchema, AnyObjectSchema, z.ZodType>,
): (req: Request, res: Response, next: NextFunction) => Promise<void> {
  const isPublic = route.access === 'public';
  return async function handleRoute(req: Request, res: Response, next: NextFunction) {
    try {
      const params = parseOrReject(route.request?.params, req.params, 'path');
      // asOf / asOfPosition: only where the route reads the past.
      const { moment, rest: query } = takeMoment(req.query);
      if (moment && !(route.timeTravel && guards.timeTravel)) throw new InvalidRequestError('asOf and asOfPosition are not accepted here');
      const caller = isPublic ? (undefined as unknown as Caller) : callerOf(res);
      const deprecated = route.deprecated;
      if (deprecated) res.setHeader('Deprecation', `@${Math.floor(Date.parse(deprecated.since) / 1000)}`);
      // A successor in the caller's organization names it once it is known.
      const successorLink = (organizationId?: string) =>
        deprecated && res.setHeader('Link', `<${deprecated.successor.replace('{organizationID}', encodeURIComponent(organizationId ?? '{organizationID}'))}>; rel="successor-version"`);
      successorLink();
      let organizationId: string | undefined;
      if (route.organization === 'caller' && !isPublic) {
        if (!guards.organizationOfTenant) throw new Error(`${route.path} needs organizationOfTenant`);
        organizationId = await resolveCallerOrganization(caller, req.get(ORGANIZATION_HEADER), guards.organizationOfTenant);
        successorLink(organizationId);
        if (typeof route.access === 'object') await guards.access.require(caller, { organizationId }, route.access.family, route.access.operation);
        if (!(await guards.organizationExists(organizationId))) throw new NotFoundHttpError(`organization ${organizationId} not found`);
      } else if (typeof route.access === 'object') {
        const { organizationID, projectID } = params as { organizationID?: string; projectID?: string };
        await guards.access.require(caller, { organizationId: organizationID, projectId: projectID }, route.access.family, route.access.operation);
      }
      const { organizationID } = params as { organizationID?: string };
      // The past (authorized by the present): the organization's read models as of the moment, for auditors.
      let past: ReadModelStore | undefined;
      if (moment) {
        if (organizationID === undefined) throw new InvalidRequestError('asOf and asOfPosition are not accepted here');
        await guards.access.require(caller, { organizationId: organizationID }, 'identity:audit', 'read');
        past = await guards.timeTravel!.storeAt(organizationID, moment);
      }
      const inTime = <R>(fn: () => Promise<R>): Promise<R> => (past ? guards.timeTravel!.run(past, fn) : fn());
      // Everything under an organization is 404 once it is gone (as of the moment, with one), checked here once for every route
      // (after the permission check, so that a foreign caller cannot probe which organizations exist).
      if (organizationID !== undefined && !isPublic && !(await inTime(() => guards.organizationExists(organizationID)))) {
        throw new NotFoundHttpError(`organization ${organizationID} not found`);
      }
      const input = {
        params,
        query: parseOrReject(route.request?.query, query, 'query'),
        // An empty form is a form without fields (POST /userinfo with only a bearer header, RFC 6750 2.1).
        body: parseOrReject(
          route.request?.body,
          // A seed 004 resource read back in a PUT: its read-only fields are accepted and ignored (read-only-fields.ts).
          route.method === 'put' && route.path.startsWith('/api/v1/organizations') ? withoutReadOnlyFields(req.body) : (req.body ?? (route.request?.bodyType === 'form' ? {} : undefined)),
          'body',
        ),
        req,
        res,
        caller,
        requestId: (req as Request & { id: string }).id,
        ...(organizationId !== undefined && { organizationId }),
      };
      // The handler, and the check of its answer against the route's response schema.
      const run = async (): Promise<RouteReply> => {
        const reply = await inTime(() => route.handler(input));
        // A shape the handler's code fixes is not parsed again on every answer: its schema documents it (and a test checks it).
        const schema = route.fixedResponses ? undefined : route.responses[reply.status]?.schema;
        return reply.body === undefined || !schema ? reply : { ...reply, body: schema.parse(reply.body) };
      };
      const reply: RouteReply =
        guards.idempotency && route.method === 'post' && !isPublic
          ? await guards.idempotency.run(req, caller, { oneTimeSecret: route.oneTimeSecret === true }, async () => {
              const { status, headers, body } = await run();
              return { status, headers: headers ?? {}, ...(body !== undefined && { body }) };
            })
          : await run();
      if (reply.streamed) return;
      for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
      if (reply.redirect !== undefined) res.redirect(reply.status === 303 ? 303 : 302, reply.redirect);
      else if (reply.html !== undefined) res.status(reply.status).type('html').send(reply.html);
      else if (reply.body === undefined) res.status(reply.status).end();
      else if ((res as Response & { [LEAN_RESPONSE]?: true })[LEAN_RESPONSE]) sendJson(res, reply.status, reply.body);
      else res.status(reply.status).json(reply.body);
    } catch (error) {
      if (error instanceof ForbiddenHttpError && !isPublic && guards.denials) await recordDenial(guards.denials, error, req, res, route);
      next(error);
    }
  };
}

/** A 403 of an authenticated route, as access.denied (sampled): who, where (the route's template), what it lacked. */
async function recordDenial(
  denials: AuditDenials,
  error: ForbiddenHttpError,
  req: Request,
  res: Response,
  route: RouteDefinition<AnyObjectSchema, AnyObjectSchema, z.ZodType>,
): Promise<void> {
  const caller = res.locals.caller === undefined ? undefined : callerOf(res);
  if (!caller) return;
  const organizationId = typeof req.params.organizationID === 'string' ? req.params.organizationID.slice(0, 128) : undefined;
  const requestId = (req as Request & { id: string }).id;
  try {
    await denials.accessDenied(
      {
        caller: { kind: caller.kind, id: caller.principalId ?? caller.subject },
        ...(organizationId !== undefined && { organizationId }),
        method: route.method.toUpperCase() as AccessDenied['method'],
        route: route.path,
        // What it lacked, when a permission check refused (not, say, granting a role one does not hold).
        ...(error instanceof MissingPermissionError && { family: error.family, operation: error.operation }),
      },
      {
        now: new Date(),
        // As WriteContext.meta: a user actor's id beside its email, so that the email is sealed under the user's key.
        actor: { subject: caller.subject, kind: caller.kind, ...(caller.kind === 'user' && caller.principalId !== undefined && { id: caller.principalId }) },
        correlationId: requestId,
        causationId: requestId,
      },
    );
  } catch (error) {
    // The refusal stands whether or not it could be recorded.
    (req as Request & { log?: { warn(object: unknown, message: string): void } }).log?.warn({ err: error }, 'could not record a denial');
  }
}
