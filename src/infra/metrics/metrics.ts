import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppendObserver, CommitReport } from '../../ports/append-observer.js';

/**
 * The service's Prometheus metrics (docs/operations.md), in one registry per
 * process: prom-client's default process metrics, request latency per route,
 * event-store commits, how far the read models and process managers are
 * behind the log, lease ownership, logins and token requests by outcome.
 *
 * Recording is cheap on purpose (the token endpoint is a hot path): a counter
 * increment or one histogram observation on label children made once; lags
 * are computed only when Prometheus scrapes.
 */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

const httpDuration = new Histogram({
  name: 'identity_http_request_duration_seconds',
  help: 'HTTP request latency, by method, route pattern (not the raw path) and status code.',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});

const appendDuration = new Histogram({
  name: 'identity_event_store_append_duration_seconds',
  help: 'Duration of one event-store commit (a group commit of several appends with SQLite): the transaction and its fsync.',
  labelNames: ['engine'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: [metricsRegistry],
});

const appendBatchSize = new Histogram({
  name: 'identity_event_store_append_batch_size',
  help: 'Appends (appendToStream calls) committed together in one transaction.',
  labelNames: ['engine'] as const,
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  registers: [metricsRegistry],
});

const appendedEvents = new Counter({
  name: 'identity_event_store_appended_events_total',
  help: 'Events written to the log by this instance.',
  labelNames: ['engine'] as const,
  registers: [metricsRegistry],
});

const appendConflicts = new Counter({
  name: 'identity_event_store_append_conflicts_total',
  help: 'Appends refused by their expected-revision check (a lost race; the command layer may retry).',
  labelNames: ['engine'] as const,
  registers: [metricsRegistry],
});

const appendFailures = new Counter({
  name: 'identity_event_store_commit_failures_total',
  help: 'Commits whose transaction failed (nothing of them reached the log).',
  labelNames: ['engine'] as const,
  registers: [metricsRegistry],
});

const leaseHeld = new Gauge({
  name: 'identity_lease_held',
  help: '1 while this instance holds the named lease (e.g. the process managers\'), else 0.',
  labelNames: ['name'] as const,
  registers: [metricsRegistry],
});

const logins = new Counter({
  name: 'identity_logins_total',
  help: 'Interactive logins by method (password, federated, ...) and outcome (succeeded, wrong_password, throttled, ...).',
  labelNames: ['method', 'outcome'] as const,
  registers: [metricsRegistry],
});

const tokenRequests = new Counter({
  name: 'identity_token_requests_total',
  help: 'Token endpoint requests by grant type and outcome: issued, or the OAuth error code answered.',
  labelNames: ['grant_type', 'outcome'] as const,
  registers: [metricsRegistry],
});

/** What a lag gauge reads at scrape time: events behind the log's head, or undefined when not known. */
export type LagSource = () => Promise<number | undefined>;

const projectionLagSources = new Set<LagSource>();
const processLagSources = new Map<string, Set<LagSource>>();

new Gauge({
  name: 'identity_projection_lag_events',
  help: 'Events between the log\'s head and the last event this instance\'s read models applied.',
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    // One service per process in production; tests may run several, the most behind is shown.
    const lags = await Promise.all([...projectionLagSources].map((source) => source().catch(() => undefined)));
    const known = lags.filter((lag): lag is number => lag !== undefined);
    if (known.length > 0) this.set(Math.max(...known));
  },
});

new Gauge({
  name: 'identity_process_manager_lag_events',
  help: 'Events between the log\'s head and the last event each process manager finished (on the instance running it).',
  labelNames: ['process'] as const,
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    for (const [name, sources] of processLagSources) {
      const lags = await Promise.all([...sources].map((source) => source().catch(() => undefined)));
      const known = lags.filter((lag): lag is number => lag !== undefined);
      if (known.length > 0) this.set({ process: name }, Math.max(...known));
    }
  },
});

/** Show the read models' lag; the returned function stops showing it (the service closed). */
export function trackProjectionLag(source: LagSource): () => void {
  projectionLagSources.add(source);
  return () => projectionLagSources.delete(source);
}

/** Show a process manager's lag; the returned function stops showing it. */
export function trackProcessLag(process: string, source: LagSource): () => void {
  let sources = processLagSources.get(process);
  if (!sources) processLagSources.set(process, (sources = new Set()));
  sources.add(source);
  return () => {
    sources!.delete(source);
    if (sources!.size === 0) processLagSources.delete(process);
  };
}

/** Leases (src/infra/... cluster): whether this instance holds `name` now. */
export function setLeaseHeld(name: string, held: boolean): void {
  leaseHeld.labels(name).set(held ? 1 : 0);
}

export type LoginMethod = string;
export type LoginOutcome = 'succeeded' | 'wrong_password' | 'account_suspended' | 'account_pending' | 'throttled' | 'busy' | 'failed';

export function countLogin(method: LoginMethod, outcome: LoginOutcome): void {
  logins.labels(method, outcome).inc();
}

const GRANT_TYPES = new Set(['authorization_code', 'refresh_token', 'client_credentials']);

/** A token request's outcome: `issued`, or the OAuth error code (invalid_grant, invalid_client, ...). */
export function countTokenRequest(grantType: string | undefined, outcome: string): void {
  // Only known grant types become label values: a client cannot grow the series with made-up ones.
  tokenRequests.labels(grantType !== undefined && GRANT_TYPES.has(grantType) ? grantType : 'other', outcome).inc();
}

/** An event store adapter's commits, as metrics (src/ports/append-observer.ts). */
export function appendObserver(engine: string): AppendObserver {
  const duration = appendDuration.labels(engine);
  const size = appendBatchSize.labels(engine);
  const written = appendedEvents.labels(engine);
  const conflicts = appendConflicts.labels(engine);
  const failures = appendFailures.labels(engine);
  return {
    committed(report: CommitReport) {
      duration.observe(report.seconds);
      size.observe(report.appends);
      if (report.events > 0) written.inc(report.events);
      if (report.conflicts > 0) conflicts.inc(report.conflicts);
      if (report.failed) failures.inc();
    },
  };
}

/** The route pattern a request matched (`/api/v1/organizations/:organizationID`), never the raw path; `unmatched` otherwise. */
const routeOf = (req: Request): string => {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? req.baseUrl + path : 'unmatched';
};

/** Times every request until its answer is written, labelled by route pattern and status. */
export function recordRequestDuration(): RequestHandler {
  return function timeRequest(req: Request, res: Response, next: NextFunction) {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      httpDuration.labels(req.method, routeOf(req), String(res.statusCode)).observe(seconds);
    });
    next();
  };
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * GET /metrics: the Prometheus text format. With `token`, only for
 * `Authorization: Bearer <token>` (compared in constant time); without, open
 * (for the separate METRICS_PORT listener only).
 */
export function serveMetrics(token?: string): RequestHandler {
  const expected = token === undefined ? undefined : digest(token);
  return async function metricsEndpoint(req: Request, res: Response, next: NextFunction) {
    try {
      if (expected) {
        const match = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
        if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
          res.set({ 'WWW-Authenticate': 'Bearer realm="metrics"', 'Cache-Control': 'no-store' });
          res.status(401).json({ error: 'access_denied', error_description: 'the metrics need the METRICS_TOKEN bearer token' });
          return;
        }
      }
      const text = await metricsRegistry.metrics();
      res.set({ 'Content-Type': metricsRegistry.contentType, 'Cache-Control': 'no-store' });
      res.status(200).send(text);
    } catch (error) {
      next(error);
    }
  };
}

/** Events between the log's head and `position` (none applied yet: the whole log). Positions count events on SQLite and PostgreSQL. */
export function eventsBehind(head: { readonly commit: bigint } | undefined, position: { readonly commit: bigint } | undefined): number {
  if (head === undefined) return 0;
  const behind = head.commit - (position?.commit ?? 0n);
  return behind > 0n ? Number(behind) : 0;
}
