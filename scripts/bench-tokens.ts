/**
 * Token service benchmark (`npm run bench:tokens`).
 *
 * Measures, in one run and with the same load generator (a worker thread with
 * `--concurrency` keep-alive lanes, each sending one request at a time, a
 * warm-up, then a fixed window), our service and `oidc-provider` for:
 *
 * - client-credentials token issuance (one confidential client,
 *   client_secret_basic, an ES256 JWT access token per request);
 * - refresh-token rotations: one session per lane (one per user), each
 *   rotation presenting the newest refresh token from the previous answer;
 *   the answer carries a new ES256 JWT access token, an ID token and the next
 *   refresh token. Ours is durable: the rotation is appended to the session's
 *   stream in the SQLite event store (WAL, synchronous=FULL) before the
 *   answer; oidc-provider keeps its tokens in its in-memory adapter;
 * - userinfo with a bearer access token;
 * - introspection (RFC 7662) of an access token by the client it was issued to
 *   (client_secret_basic): ours the ES256 JWT, oidc-provider's the opaque
 *   token of its code exchange (it keeps JWT access tokens nowhere to look up).
 *
 * The request log runs at `--log-level` (default info, the production level) on
 * both sides: oidc-provider has none of its own, so it gets the same pino-http
 * logger to the same sink (bench/oidc-provider.ts).
 *
 * Our token-request throttle (THROTTLE_TOKEN_REQUESTS_PER_MINUTE, per address)
 * is raised to its maximum: every lane comes from 127.0.0.1.
 *
 * BENCH_CASES=userinfo,introspection (comma-separated) runs only those cases,
 * for profiling (`node --cpu-prof`).
 *
 * Both providers run in this process, each on its own port; the load
 * generator runs in a worker thread. Sessions are set up through each
 * provider's authorization endpoint: our login form (one user with a password
 * per session) and oidc-provider's interaction flow (bench/oidc-provider.ts).
 *
 * With `--rounds N` (default 3) each case runs N times per provider, alternating
 * which goes first, `--seconds` split between the rounds: a shared machine's
 * load then weighs on both alike. The ratio printed is the median of the
 * rounds' ratios (each round's two windows are back to back).
 *
 *   node dist/scripts/bench-tokens.js [--seconds N] [--warmup N] [--concurrency N] [--rounds N] [--log-level LEVEL]
 */
import { type LoadResult, mapWithConcurrency, type RequestSpec, runLoad, type Workload } from './bench/load.js';
import { jwtHeader, type TokenAnswer, tokenRequest } from './bench/oauth.js';
import { type Account, RESOURCE, type ReferenceProvider, startOidcProvider } from './bench/oidc-provider.js';
import { type OurTenant, SETUP_CONCURRENCY, setUpTenant } from './bench/our-provider.js';
import { fmtInt, fmtMs, parseOptions, printTable } from './bench/report.js';
import { type BenchService, startBenchService } from './bench/service.js';

const CC_GOAL_RATIO = 1;
const REFRESH_GOAL_RATIO = 0.85;
const READ_GOAL_RATIO = 1.5;
const CASES = ['client_credentials', 'userinfo', 'introspection', 'refresh_token'] as const;
type Case = (typeof CASES)[number];
const selected: readonly Case[] = process.env.BENCH_CASES
  ? CASES.filter((c) => process.env.BENCH_CASES!.split(',').includes(c))
  : CASES;

const usage =
  'usage: bench-tokens [--seconds N (default 6, 1..120)] [--warmup N (default 1, 0..30)] [--concurrency N (default 32, 1..256)] [--rounds N (default 3, 1..20)] [--log-level LEVEL (default info)]';

const options = (() => {
  try {
    return parseOptions(
      process.argv.slice(2),
      {
        seconds: { flag: '--seconds', min: 1, max: 120 },
        warmup: { flag: '--warmup', min: 0, max: 30 },
        concurrency: { flag: '--concurrency', min: 1, max: 256, integer: true },
        rounds: { flag: '--rounds', min: 1, max: 20, integer: true },
      },
      { seconds: 6, warmup: 1, concurrency: 32, rounds: 3 },
      usage,
    );
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
})();

/** Everything a provider needs to be measured: where, how the client authenticates, and live sessions. */
interface Subject {
  readonly label: 'ours' | 'oidc-provider';
  readonly baseUrl: string;
  readonly tokenPath: string;
  readonly userinfoPath: string;
  readonly introspectionPath: string;
  readonly clientAuthorization: string;
  /** Extra form fields of a client-credentials or refresh request (oidc-provider: the resource). */
  readonly extraParams: Readonly<Record<string, string>>;
  /** One per lane: the access token for userinfo and the refresh token that starts the chain. */
  readonly sessions: { accessToken: string; refreshToken: string }[];
}

interface Row {
  readonly grant: string;
  readonly provider: Subject['label'];
  readonly result: LoadResult;
}

const check = (condition: unknown, message: string): void => {
  if (!condition) throw new Error(`setup check failed: ${message}`);
};

/** One token request of each kind, checking that both providers issue what we claim they do. */
async function verifyEquivalence(subject: Subject): Promise<void> {
  const tokenUrl = subject.baseUrl + subject.tokenPath;
  const cc = await tokenRequest(tokenUrl, subject.clientAuthorization, { grant_type: 'client_credentials', ...subject.extraParams });
  const ccHeader = jwtHeader(cc.access_token);
  check(ccHeader.alg === 'ES256', `${subject.label}: client credentials give an ES256 JWT (got ${JSON.stringify(ccHeader)})`);

  const session = subject.sessions[0]!;
  const rotated: TokenAnswer = await tokenRequest(tokenUrl, subject.clientAuthorization, {
    grant_type: 'refresh_token',
    refresh_token: session.refreshToken,
    ...subject.extraParams,
  });
  check(rotated.refresh_token && rotated.refresh_token !== session.refreshToken, `${subject.label}: a refresh rotates the refresh token`);
  check(jwtHeader(rotated.access_token).alg === 'ES256', `${subject.label}: a refresh gives an ES256 JWT access token`);
  check(rotated.id_token && jwtHeader(rotated.id_token).alg === 'ES256', `${subject.label}: a refresh gives an ES256 ID token`);
  session.refreshToken = rotated.refresh_token!;

  const info = await fetch(subject.baseUrl + subject.userinfoPath, { headers: { authorization: `Bearer ${session.accessToken}` } });
  const body = (await info.json()) as { sub?: string; email?: string };
  check(info.status === 200 && body.sub && body.email, `${subject.label}: userinfo answers sub and email (got ${info.status} ${JSON.stringify(body)})`);

  const introspected = await fetch(subject.baseUrl + subject.introspectionPath, {
    method: 'POST',
    headers: { authorization: subject.clientAuthorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: session.accessToken }),
  });
  const facts = (await introspected.json()) as { active?: boolean; sub?: string };
  check(introspected.status === 200 && facts.active === true && facts.sub, `${subject.label}: introspection answers active (got ${introspected.status} ${JSON.stringify(facts)})`);
}

async function measure(subject: Subject, grant: Case): Promise<LoadResult> {
  let workload: Workload;
  if (grant === 'refresh_token') {
    workload = {
      kind: 'refresh',
      path: subject.tokenPath,
      headers: { authorization: subject.clientAuthorization },
      params: subject.extraParams,
      refreshTokens: subject.sessions.map((s) => s.refreshToken),
    };
  } else if (grant === 'client_credentials') {
    const request: RequestSpec = {
      method: 'POST',
      path: subject.tokenPath,
      headers: { authorization: subject.clientAuthorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...subject.extraParams }).toString(),
    };
    workload = { kind: 'requests', requests: [request] };
  } else if (grant === 'introspection') {
    workload = {
      kind: 'requests',
      requests: subject.sessions.map((s) => ({
        method: 'POST',
        path: subject.introspectionPath,
        headers: { authorization: subject.clientAuthorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: s.accessToken }).toString(),
      })),
    };
  } else {
    workload = {
      kind: 'requests',
      requests: subject.sessions.map((s) => ({ method: 'GET', path: subject.userinfoPath, headers: { authorization: `Bearer ${s.accessToken}` } })),
    };
  }
  const startedUs = process.hrtime.bigint() / 1000n;
  const result = await runLoad({
    baseUrl: subject.baseUrl,
    workload,
    concurrency: options.concurrency,
    warmupRequests: Number.MAX_SAFE_INTEGER,
    warmupSeconds: options.warmup,
    maxRequests: Number.MAX_SAFE_INTEGER,
    seconds: options.seconds / options.rounds,
    expectStatus: 200,
  });
  // BENCH_MARKS=1: when each case ran (monotonic µs, the clock of a --cpu-prof profile), to cut a profile per case.
  if (process.env.BENCH_MARKS) console.log(`  mark ${subject.label} ${grant} ${startedUs} ${process.hrtime.bigint() / 1000n}`);
  // The next round of a refresh chain starts from where this one stopped (an older token would be reuse).
  result.refreshTokens?.forEach((token, i) => (subject.sessions[i]!.refreshToken = token));
  if (result.errors > 0) console.log(`  ${subject.label} ${grant}: ${result.errors} unexpected answers, e.g. ${result.errorSamples.join(' | ')}`);
  return result;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The rounds of one provider and case as one window: requests and seconds summed; latencies: the median round's p50, the worst round's p99. */
function combine(results: readonly LoadResult[]): LoadResult {
  const count = results.reduce((n, r) => n + r.count, 0);
  const seconds = results.reduce((n, r) => n + r.seconds, 0);
  return {
    count,
    seconds,
    rate: seconds > 0 ? count / seconds : 0,
    p50: median(results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    max: Math.max(...results.map((r) => r.max)),
    errors: results.reduce((n, r) => n + r.errors, 0),
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5),
  };
}

async function ourSubject(bench: BenchService): Promise<Subject> {
  const tenant: OurTenant = await setUpTenant(bench, options.concurrency);
  const sessions = await mapWithConcurrency(tenant.users, SETUP_CONCURRENCY, async (user) => {
    const tokens = await tenant.login(user);
    check(tokens.refresh_token, 'our login gives a refresh token');
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token! };
  });
  return {
    label: 'ours',
    baseUrl: bench.baseUrl,
    tokenPath: tenant.tokenPath,
    userinfoPath: tenant.userinfoPath,
    introspectionPath: tenant.introspectionPath,
    clientAuthorization: tenant.clientAuthorization,
    extraParams: {},
    sessions,
  };
}

async function referenceSubject(reference: ReferenceProvider, accounts: readonly Account[]): Promise<Subject> {
  const sessions = await mapWithConcurrency(accounts, SETUP_CONCURRENCY, async (account) => {
    const tokens = await reference.login(account);
    check(tokens.refresh_token, 'an oidc-provider login gives a refresh token');
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token! };
  });
  return {
    label: 'oidc-provider',
    baseUrl: reference.issuer,
    tokenPath: reference.tokenPath,
    userinfoPath: reference.userinfoPath,
    introspectionPath: reference.introspectionPath,
    clientAuthorization: reference.clientAuthorization,
    extraParams: { resource: RESOURCE },
    sessions,
  };
}

async function main(): Promise<void> {
  console.log(
    `token benchmark: ${options.concurrency} concurrent keep-alive clients, ${options.warmup} s warm-up + ${options.seconds} s per case, ` +
      `the request log at level ${options.logLevel} on both sides`,
  );
  const bench = await startBenchService({ name: 'bench-tokens', logLevel: options.logLevel, env: { THROTTLE_TOKEN_REQUESTS_PER_MINUTE: '1000000' } });
  let reference: ReferenceProvider | undefined;
  try {
    const accounts: Account[] = Array.from({ length: options.concurrency }, (_, i) => ({ id: `account-${i}`, email: `user.${i}@bench.example.com`, name: `user-${i}` }));
    reference = await startOidcProvider(accounts, options.logLevel);
    const started = Date.now();
    const subjects = [await ourSubject(bench), await referenceSubject(reference, accounts)];
    for (const subject of subjects) await verifyEquivalence(subject);
    console.log(`  ${options.concurrency} sessions on each provider, set up and checked in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const rows: Row[] = [];
    const roundRatios = new Map<Case, number[]>();
    for (const grant of selected) {
      const results: Record<Subject['label'], LoadResult[]> = { ours: [], 'oidc-provider': [] };
      for (let round = 0; round < options.rounds; round++) {
        for (const subject of round % 2 === 0 ? subjects : [...subjects].reverse()) results[subject.label].push(await measure(subject, grant));
        const ratio = results.ours[round]!.rate / results['oidc-provider'][round]!.rate;
        roundRatios.set(grant, [...(roundRatios.get(grant) ?? []), ratio]);
      }
      for (const subject of subjects) {
        const result = combine(results[subject.label]);
        rows.push({ grant, provider: subject.label, result });
        console.log(`  done: ${grant}, ${subject.label}: ${fmtInt(result.rate)} requests/s`);
      }
      console.log(`  ${grant}: ratio per round ${roundRatios.get(grant)!.map((r) => r.toFixed(2)).join(', ')}`);
    }
    console.log();
    printTable(
      ['case', 'provider', 'requests', 'seconds', 'requests/s', 'p50 ms', 'p99 ms', 'errors'],
      rows.map((r) => [r.grant, r.provider, fmtInt(r.result.count), r.result.seconds.toFixed(2), fmtInt(r.result.rate), fmtMs(r.result.p50), fmtMs(r.result.p99), String(r.result.errors)]),
    );

    const ratio = (grant: Case) => median(roundRatios.get(grant)!);
    const clean = rows.every((r) => r.result.errors === 0);
    const goals: Record<Case, number> = { client_credentials: CC_GOAL_RATIO, userinfo: READ_GOAL_RATIO, introspection: READ_GOAL_RATIO, refresh_token: REFRESH_GOAL_RATIO };
    console.log();
    console.log(`ours / oidc-provider: ${selected.map((c) => `${c} ${ratio(c).toFixed(2)}x`).join(', ')}`);
    if (!clean) console.log('some requests failed (see above): the goals cannot be met by this run');
    let allMet = clean;
    for (const c of selected) {
      const met = clean && ratio(c) >= goals[c];
      allMet &&= met;
      console.log(`goal: ${c} at least ${goals[c]}x oidc-provider's rate${c === 'refresh_token' ? ' (ours durable)' : ''}: ${met ? 'MET' : 'NOT MET'} (${ratio(c).toFixed(2)}x)`);
    }
    console.log(`overall: ${allMet ? 'goals met' : 'goals NOT met'}`);
  } finally {
    await reference?.close();
    await bench.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
