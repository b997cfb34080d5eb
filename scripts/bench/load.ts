/**
 * The HTTP load generator of the benchmarks. It runs in a worker thread, so
 * that the client's own work (building requests, parsing answers, timing)
 * does not run on the event loop of the servers it measures, which live on
 * the main thread. Every case of a benchmark goes through the same generator:
 * `concurrency` lanes, each sending one request at a time over a keep-alive
 * connection and timing it, a warm-up, then a measuring phase bounded both in
 * time and in requests.
 */
import { Worker } from 'node:worker_threads';
import type { LatencySummary } from './report.js';

export interface RequestSpec {
  readonly method: 'GET' | 'POST';
  /** Path and query, appended to the base URL. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export type Workload =
  /** The lanes take the requests in turn, round robin. */
  | { readonly kind: 'requests'; readonly requests: readonly RequestSpec[] }
  /**
   * Refresh-token chains: lane i owns chain i and always presents the newest
   * refresh token, taken from the previous answer (a chain breaks on an error).
   */
  | {
      readonly kind: 'refresh';
      readonly path: string;
      readonly headers: Readonly<Record<string, string>>;
      /** Form fields sent besides grant_type and refresh_token. */
      readonly params: Readonly<Record<string, string>>;
      readonly refreshTokens: readonly string[];
    };

export interface LoadSpec {
  readonly baseUrl: string;
  readonly workload: Workload;
  readonly concurrency: number;
  /** The warm-up ends after this many requests or this many seconds, whichever comes first. */
  readonly warmupRequests: number;
  readonly warmupSeconds: number;
  /** Measuring ends after this many requests or this many seconds, whichever comes first. */
  readonly maxRequests: number;
  readonly seconds: number;
  readonly expectStatus: number;
}

export interface LoadResult extends LatencySummary {
  /** Wall time of the measuring phase, in seconds. */
  readonly seconds: number;
  /** Requests answered with the expected status per second of measuring phase. */
  readonly rate: number;
  readonly errors: number;
  /** The first few unexpected answers, for the report. */
  readonly errorSamples: readonly string[];
  /** A refresh load: each lane's newest refresh token, where a next run of the chain starts. */
  readonly refreshTokens?: readonly string[];
}

/** Run one case in a fresh worker and answer its figures. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.workload.kind === 'refresh' && spec.workload.refreshTokens.length < spec.concurrency) {
    throw new Error(`refresh load needs one chain per lane: ${spec.workload.refreshTokens.length} chains for ${spec.concurrency} lanes`);
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: spec });
    let settled = false;
    worker.once('message', (result: LoadResult) => {
      settled = true;
      resolve(result);
    });
    worker.once('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`load worker exited with code ${code} before answering`));
    });
  });
}

/** Map over items with at most `limit` calls in flight; answers the results in order. */
export async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
