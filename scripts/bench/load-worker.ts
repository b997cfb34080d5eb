/**
 * The worker side of `runLoad` (load.ts): sends the requests of one case and
 * posts back its figures. Uses node:http with a keep-alive agent, one socket
 * per lane, rather than fetch: less client work per request.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { LoadResult, LoadSpec, RequestSpec } from './load.js';
import { summariseLatencies } from './report.js';

/** A request that takes longer than this is abandoned and counted as an error. */
const REQUEST_TIMEOUT_MS = 30_000;
/** However a case is configured, no lane sends more than this many requests. */
const MAX_REQUESTS_PER_LANE = 10_000_000;
const MAX_ERROR_SAMPLES = 5;

interface Answer {
  readonly status: number;
  readonly body: string;
}

const spec = workerData as LoadSpec;
const base = new URL(spec.baseUrl);
const agent = new Agent({ keepAlive: true, maxSockets: spec.concurrency });

function send(req: RequestSpec): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body !== undefined) headers['content-length'] = Buffer.byteLength(req.body);
    const outgoing = request(
      { host: base.hostname, port: base.port, path: req.path, method: req.method, headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    outgoing.setTimeout(REQUEST_TIMEOUT_MS, () => outgoing.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    outgoing.on('error', reject);
    outgoing.end(req.body);
  });
}

async function run(): Promise<LoadResult> {
  const { workload, concurrency } = spec;
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let issued = 0;
  let measured = 0;
  let next = 0;

  const start = performance.now();
  let measureFrom = Number.POSITIVE_INFINITY;
  let measureUntil = Number.POSITIVE_INFINITY;
  let lastDone = 0;
  let stopped = false;
  /** Which phase a request that starts now belongs to; undefined once measuring is over. */
  const phase = (now: number): 'warmup' | 'measure' | undefined => {
    if (stopped) return undefined;
    if (measureFrom === Number.POSITIVE_INFINITY) {
      if (issued < spec.warmupRequests && now - start < spec.warmupSeconds * 1000) return 'warmup';
      measureFrom = now;
      measureUntil = now + spec.seconds * 1000;
    }
    if (measured >= spec.maxRequests || now >= measureUntil) {
      stopped = true;
      return undefined;
    }
    return 'measure';
  };

  const failed = (what: string) => {
    errors++;
    if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push(what.slice(0, 300));
  };

  const chains = workload.kind === 'refresh' ? [...workload.refreshTokens] : undefined;
  const lane = async (index: number): Promise<void> => {
    let refreshToken = workload.kind === 'refresh' ? workload.refreshTokens[index]! : undefined;
    for (let i = 0; i < MAX_REQUESTS_PER_LANE; i++) {
      const t0 = performance.now();
      const current = phase(t0);
      if (!current) return;
      issued++;
      if (current === 'measure') measured++;
      let req: RequestSpec;
      if (workload.kind === 'requests') {
        req = workload.requests[next++ % workload.requests.length]!;
      } else {
        req = {
          method: 'POST',
          path: workload.path,
          headers: { ...workload.headers, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken!, ...workload.params }).toString(),
        };
      }
      let answer: Answer;
      try {
        answer = await send(req);
      } catch (error) {
        failed(`${req.method} ${req.path}: ${(error as Error).message}`);
        if (workload.kind === 'refresh') return;
        continue;
      }
      const t1 = performance.now();
      if (answer.status !== spec.expectStatus) {
        failed(`${req.method} ${req.path.slice(0, 120)}: ${answer.status} ${answer.body}`);
        // The chain's token is gone or unknown: this lane cannot go on.
        if (workload.kind === 'refresh') return;
        continue;
      }
      if (workload.kind === 'refresh') {
        refreshToken = (JSON.parse(answer.body) as { refresh_token?: string }).refresh_token;
        if (!refreshToken) {
          failed(`refresh answered without a new refresh token: ${answer.body}`);
          return;
        }
        chains![index] = refreshToken;
      }
      if (current === 'measure') {
        latencies.push(t1 - t0);
        if (t1 > lastDone) lastDone = t1;
      }
    }
  };

  await Promise.all(Array.from({ length: concurrency }, (_, i) => lane(i)));
  agent.destroy();
  const seconds = Math.max(0, lastDone - measureFrom) / 1000;
  return { ...summariseLatencies(latencies), seconds, rate: seconds > 0 ? latencies.length / seconds : 0, errors, errorSamples, ...(chains && { refreshTokens: chains }) };
}

run().then(
  (result) => parentPort!.postMessage(result),
  (error: unknown) => {
    throw error;
  },
);
