import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { AuditDenials } from '../commands/audit/denials.js';
import type { AccessControl } from './auth/access-control.js';
import type { Idempotency } from './http/idempotency.js';
import type { TimeTravelGate } from './http/time-travel.js';
import { mountRoute, routeHandler, type RouteDefinition } from './http/route.js';
import { leanPath } from './http/lean-path.js';
import { formReader } from './http/form-body.js';
import { authenticate, type CredentialResolver } from './middleware/authenticate.js';
import { renderErrors, unknownRoute } from './middleware/errors.js';
import { assignRequestId } from './middleware/request-id.js';
import { checkBodyShape } from './middleware/body-shape.js';
import { checkContentEncoding } from './middleware/content-encoding.js';
import { JSON_TYPES, requireJsonBody } from './middleware/require-json.js';
import { noSniff } from './middleware/security-headers.js';
import { captureRequestSource } from './middleware/request-source.js';
import { recordRequestDuration, serveMetrics } from '../infra/metrics/metrics.js';

/** The largest request body read (JSON or form), in bytes. */
const BODY_LIMIT = 1024 * 1024;
/** At most this many fields in a form. */
const FORM_PARAMETER_LIMIT = 100;

export interface AppDependencies {
  readonly logger: Logger;
  readonly credentials: readonly CredentialResolver[];
  readonly access: AccessControl;
  readonly routes: readonly RouteDefinition<any, any, any>[];
  readonly issuer: string;
  readonly organizationExists: (organizationId: string) => Promise<boolean>;
  /** Idempotency-Key on the authenticated POSTs; without it the header is ignored. */
  readonly idempotency?: Idempotency;
  /** The request's address as the throttle counts it: with it, events carry metadata.source. */
  readonly sourceOf?: (req: express.Request) => string;
  /** Records the admin API's 403s (access.denied, sampled); without it they are not recorded. */
  readonly denials?: AuditDenials;
  /** Reads as of a moment (asOf) on the routes that opt in; without it they answer 400 to asOf. */
  readonly timeTravel?: TimeTravelGate;
  /** The organization with a tenant number: routes without an organization in the path (the compatible APIs) need it. */
  readonly organizationOfTenant?: (tenantId: number) => Promise<string | undefined>;
  /** Request latency metrics; with `token`, GET /metrics for that bearer token (docs/operations.md). */
  readonly metrics?: { readonly token?: string };
  /** X-Log-Position on writes, X-Min-Log-Position waits (src/api/middleware/read-your-writes.ts). */
  readonly readYourWrites?: express.RequestHandler;
}

export function createApp(deps: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(noSniff);
  app.use(assignRequestId);
  const timeRequest = deps.metrics ? recordRequestDuration() : undefined;
  if (timeRequest) app.use(timeRequest);
  // A 503 is load shed on purpose (a flood of logins): a warning, not an error per request.
  const requestLogLevel = (_req: IncomingMessage, res: ServerResponse, error?: Error): 'error' | 'warn' | 'info' =>
    (error || res.statusCode >= 500) && res.statusCode !== 503 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info';
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req) => (req as unknown as { id: string }).id,
      customLogLevel: requestLogLevel,
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
    }),
  );
  // The admin API speaks JSON; the OAuth endpoints take forms, as RFC 6749 says.
  app.use(checkContentEncoding);
  app.use('/api', requireJsonBody);
  app.use('/v1/k8s', requireJsonBody);
  app.use(express.json({ limit: BODY_LIMIT, strict: true, type: JSON_TYPES }));
  const formParser = express.urlencoded({ limit: BODY_LIMIT, extended: false, parameterLimit: FORM_PARAMETER_LIMIT });
  app.use('/oauth2', formParser);
  // Every parsed body and query, before any route authenticates: depth and characters.
  app.use(checkBodyShape);
  // After the body parsers (their stream callbacks would lose the async context): events carry the request's source.
  const recordSource = deps.sourceOf ? captureRequestSource(deps.sourceOf) : undefined;
  if (recordSource) app.use(recordSource);
  // Also after the body parsers: the appends of the request note the position they reach in its async context.
  if (deps.readYourWrites) app.use(deps.readYourWrites);

  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer' });

  const router = express.Router();
  const guards = {
    access: deps.access,
    authenticate: authenticate(deps.credentials),
    organizationExists: deps.organizationExists,
    ...(deps.idempotency && { idempotency: deps.idempotency }),
    ...(deps.denials && { denials: deps.denials }),
    ...(deps.timeTravel && { timeTravel: deps.timeTravel }),
    ...(deps.organizationOfTenant && { organizationOfTenant: deps.organizationOfTenant }),
  };
  // The token endpoints (every API call of every service checks a token) are matched first, not after a walk over every admin route.
  const hot = (route: RouteDefinition<any, any, any>) => route.path.startsWith('/oauth2/');
  for (const route of [...deps.routes.filter(hot), ...deps.routes.filter((route) => !hot(route))]) mountRoute(router, registry, guards, route);

  // Generated at its first request, not at start (it took a tenth of the time to listen).
  let document: ReturnType<OpenApiGeneratorV31['generateDocument']> | undefined;
  app.get('/openapi.json', function serveOpenApi(_req, res) {
    document ??= new OpenApiGeneratorV31(registry.definitions).generateDocument({
      openapi: '3.1.0',
      info: { title: 'Identity API', version: '1.4.0' },
      servers: [{ url: deps.issuer }],
    });
    res.json(document);
  });

  if (deps.metrics?.token !== undefined) app.get('/metrics', serveMetrics(deps.metrics.token));
  app.use(router);
  app.use(unknownRoute);
  const renderError = renderErrors(deps.logger);
  app.use(renderError);

  // The token hot path (issue 16): userinfo, introspection and the token endpoint in front of express, through the same middlewares and handlers
  // (the form parser behind a reader of plain forms that gives the same bodies: src/api/http/form-body.ts).
  const leanFormParser = formReader({ limit: BODY_LIMIT, parameterLimit: FORM_PARAMETER_LIMIT, fallback: formParser });
  const serveLean = leanPath({
    app,
    logger: deps.logger,
    logLevel: requestLogLevel,
    middlewares: [assignRequestId, ...(timeRequest ? [timeRequest] : []), leanFormParser, checkBodyShape, ...(recordSource ? [recordSource] : []), ...(deps.readYourWrites ? [deps.readYourWrites] : [])],
    routes: deps.routes.filter((route) => route.lean).map((route) => ({ route, handle: routeHandler(guards, route) })),
    renderError,
  });
  type Handle = (req: IncomingMessage, res: ServerResponse, callback?: unknown) => void;
  const handle = (app as unknown as { handle: Handle }).handle.bind(app);
  (app as unknown as { handle: typeof handle }).handle = (req, res, callback) => {
    if (!serveLean(req, res)) handle(req, res, callback);
  };
  return app;
}
