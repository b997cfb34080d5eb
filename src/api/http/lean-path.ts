import { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { declareServerClasses } from '../../infra/tls/server.js';
import { LEAN_RESPONSE, type RouteDefinition } from './route.js';

/** What the hot routes' request log censors (what REDACTED_PATHS says of requests and answers); it logs no body. */
const CENSORED = '[redacted]';
const censoredRequestHeaders = (headers: IncomingMessage['headers']) => {
  if (headers.authorization === undefined && headers.cookie === undefined) return headers;
  // One copy, the censored values in their places (no intermediate objects: this runs for every request).
  const copy = { ...headers };
  if (copy.authorization !== undefined) copy.authorization = CENSORED;
  if (copy.cookie !== undefined) copy.cookie = CENSORED;
  return copy;
};
const censoredResponseHeaders = (res: ServerResponse) => {
  const headers = res.getHeaders();
  if (headers['set-cookie'] !== undefined) headers['set-cookie'] = CENSORED;
  if (headers.location !== undefined) headers.location = CENSORED;
  return headers;
};

/** A form, or no declared type: what the lean path reads. Anything else (JSON, another charset) is express's. */
const LEAN_BODY_TYPE = /^application\/x-www-form-urlencoded\s*(?:;|$)/i;

export interface LeanPathDependencies {
  /** The express app the lean path stands in front of: its request and response prototypes, and everything the lean path does not serve. */
  readonly app: Express;
  readonly logger: Logger;
  /** The request log's level for an answer (the same function pino-http is given). */
  readonly logLevel: (req: IncomingMessage, res: ServerResponse, error?: Error) => string;
  /** The middlewares every request of these routes goes through, in the app's order (request id, metrics, content encoding, form parser, body shape, request source, read-your-writes). */
  readonly middlewares: readonly RequestHandler[];
  /** The routes to serve, each with its handler (routeHandler) and the app's error renderer. */
  readonly routes: readonly { readonly route: RouteDefinition<any, any, any>; readonly handle: (req: Request, res: Response, next: NextFunction) => Promise<void> }[];
  readonly renderError: (error: unknown, req: Request, res: Response, next: NextFunction) => void;
}

/** No query string and no path parameters reach the lean path: one empty object for every line. */
const NOTHING = Object.freeze({});

/** What pino-http's request serializer writes, built directly (no wrapped serializer objects, no wildcard redaction). */
const serializeRequest = (req: Request) => ({
  id: (req as Request & { id: string }).id,
  method: req.method,
  url: req.originalUrl,
  query: NOTHING,
  params: NOTHING,
  headers: censoredRequestHeaders(req.headers),
  remoteAddress: req.socket.remoteAddress,
  remotePort: req.socket.remotePort,
});

const LOGGER = Symbol('request logger');
const STARTED = Symbol('started');

/**
 * The token hot path (issue 16): userinfo, introspection and the token
 * endpoint served by a plain `(req, res)` handler in front of express, for
 * exactly their method and path (no query string, no Content-Encoding, a form
 * or no body). Every other request, and any of those that is not plain, goes
 * to express unchanged.
 *
 * It keeps what express gives these routes: the same request and response
 * prototypes (so the shared code reads headers and writes answers as before),
 * the same middlewares in the same order, the same route handler and the same
 * error renderer. What it leaves out is the router's walk, express's
 * per-request setup around it, the JSON body parser, pino-http (replaced by
 * one log line built here, with the same fields, redacting credentials on
 * fixed paths instead of wildcard paths), and express's res.json/send.
 */
export function leanPath(deps: LeanPathDependencies): (req: IncomingMessage, res: ServerResponse) => boolean {
  // Each route by method, then path (two lookups, no key string made per request), with the pattern the metrics
  // label its answers with (express's form of the path), made once.
  type Entry = (typeof deps.routes)[number] & { readonly pattern: { readonly path: string } };
  const table = new Map<string, Map<string, Entry>>();
  for (const entry of deps.routes) {
    if (entry.route.access !== 'public') throw new Error(`${entry.route.path}: only public routes take the lean path`);
    const method = entry.route.method.toUpperCase();
    if (!table.has(method)) table.set(method, new Map());
    table.get(method)!.set(entry.route.path, { ...entry, pattern: Object.freeze({ path: entry.route.path.replace(/\{([^}]+)\}/g, ':$1') }) });
  }
  // No redaction paths to walk on every line (the service logger's are wildcards): the serializers above censor what these lines can carry.
  const requestLog = deps.logger.child({}, { redact: [] });
  // The requests' and responses' own classes: express's prototypes, plus req.log made only when something logs for
  // the request (an error). A server made by createServer (src/infra/tls/server.ts) makes every request and response
  // from them, so a lean request is born with its prototype and its properties below are set on an object of a
  // stable shape; express's app.handle sets its own prototypes for every other request, as it does for any server's.
  class LeanRequest extends IncomingMessage {}
  class LeanResponse extends ServerResponse {}
  const requestPrototype = LeanRequest.prototype;
  const responsePrototype = LeanResponse.prototype;
  Object.setPrototypeOf(requestPrototype, deps.app.request as object);
  Object.setPrototypeOf(responsePrototype, deps.app.response as object);
  Object.defineProperty(requestPrototype, 'log', {
    get(this: Request & { [LOGGER]?: Logger }) {
      return (this[LOGGER] ??= requestLog.child({ req: serializeRequest(this) }));
    },
    set(this: Request & { [LOGGER]?: Logger }, value: Logger) {
      this[LOGGER] = value;
    },
  });
  // No query string reaches the lean path (the table matches the whole URL): its query is empty, without express's
  // getter parsing the URL on each read (the body-shape check and the route handler both read it).
  Object.defineProperty(requestPrototype, 'query', {
    get: () => Object.create(null) as Record<string, never>,
  });
  // Its answers are written by sendJson (route.ts), without express's res.json.
  Object.defineProperty(responsePrototype, LEAN_RESPONSE, { value: true });
  // (node's typing wants the response class generic in its request type; this one serves this app's requests)
  declareServerClasses(deps.app, { IncomingMessage: LeanRequest, ServerResponse: LeanResponse as typeof ServerResponse });

  const logAnswer = (req: Request, res: Response) => {
    const level = deps.logLevel(req, res);
    if (level === 'silent') return;
    const responseTime = Date.now() - (res as Response & { [STARTED]: number })[STARTED];
    const entry = { req: serializeRequest(req), res: { statusCode: res.statusCode, headers: censoredResponseHeaders(res) }, responseTime };
    const log = requestLog as unknown as Record<string, (object: unknown, message: string) => void>;
    if (res.statusCode >= 500) log[level]!.call(requestLog, { ...entry, err: new Error(`failed with status code ${res.statusCode}`) }, 'request errored');
    else log[level]!.call(requestLog, entry, !req.readableAborted && res.writableEnded ? 'request completed' : 'request aborted');
  };

  return function serveLean(incoming: IncomingMessage, outgoing: ServerResponse): boolean {
    const entry = table.get(incoming.method!)?.get(incoming.url!);
    if (!entry) return false;
    const headers = incoming.headers;
    if (headers['content-encoding'] !== undefined) return false;
    const type = headers['content-type'];
    if (type !== undefined && !LEAN_BODY_TYPE.test(type)) return false;
    // A GET with a body is express's (its form parser reads GET bodies too).
    if (incoming.method === 'GET' && (headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0'))) return false;

    // What express's app.handle and its router set up, for these routes only. The prototypes are already the lean
    // path's when the server made the request and response from its classes (not for a server made elsewhere).
    if (Object.getPrototypeOf(incoming) !== requestPrototype) Object.setPrototypeOf(incoming, requestPrototype);
    if (Object.getPrototypeOf(outgoing) !== responsePrototype) Object.setPrototypeOf(outgoing, responsePrototype);
    const req = incoming as Request;
    const res = outgoing as Response & { [STARTED]: number };
    (req as { res: Response }).res = res;
    (res as { req: Request }).req = req;
    res.locals = Object.create(null) as Response['locals'];
    req.originalUrl = req.url;
    req.baseUrl = '';
    req.params = {};
    // The metrics label an answer with its route pattern.
    (req as { route: unknown }).route = entry.pattern;
    res[STARTED] = Date.now();
    res.setHeader('X-Content-Type-Options', 'nosniff');

    const fail = (error: unknown) => deps.renderError(error, req, res, (unhandled?: unknown) => {
      // Headers already sent: nothing more can be said to the client.
      if (unhandled) res.destroy(unhandled instanceof Error ? unhandled : undefined);
    });
    let index = 0;
    const next = (error?: unknown): void => {
      if (error !== undefined && error !== null) return fail(error);
      const middleware = deps.middlewares[index++];
      if (middleware) {
        try {
          const result = middleware(req, res, next) as unknown;
          if (result instanceof Promise) result.catch(fail);
        } catch (thrown) {
          fail(thrown);
        }
        return;
      }
      entry.handle(req, res, next).catch(fail);
    };
    // One line per answer, once it is done: a response emits 'close' once, after 'finish' when it was written whole
    // and without it when the connection went first (the line then says 'request aborted').
    res.on('close', () => logAnswer(req, res));
    next();
    return true;
  };
}
