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
 * - userinfo with a bearer access token.
 *
 * Both providers run in this process, each on its own port; the load
 * generator runs in a worker thread. Sessions are set up through each
 * provider's authorization endpoint: our login form (one user with a password
 * per session) and oidc-provider's interaction flow (bench/oidc-provider.ts).
 *
 *   node dist/scripts/bench-tokens.js [--seconds N] [--warmup N] [--concurrency N] [--log-level LEVEL]
 */
import { type LoadResult, mapWithConcurrency, type RequestSpec, runLoad, type Workload } from './bench/load.js';
import { jwtHeader, type TokenAnswer, tokenRequest } from './bench/oauth.js';
import { type Account, RESOURCE, type ReferenceProvider, startOidcProvider } from './bench/oidc-provider.js';
import { type OurTenant, SETUP_CONCURRENCY, setUpTenant } from './bench/our-provider.js';
import { fmtInt, fmtMs, parseOptions, printTable } from './bench/report.js';
import { type BenchService, startBenchService } from './bench/service.js';

const CC_GOAL_RATIO = 1;
const REFRESH_GOAL_RATIO = 0.5;

const usage =
  'usage: bench-tokens [--seconds N (default 5, 1..120)] [--warmup N (default 1, 0..30)] [--concurrency N (default 32, 1..256)] [--log-level LEVEL (default info)]';

const options = (() => {
  try {
    return parseOptions(
      process.argv.slice(2),
      {
        seconds: { flag: '--seconds', min: 1, max: 120 },
        warmup: { flag: '--warmup', min: 0, max: 30 },
        concurrency: { flag: '--concurrency', min: 1, max: 256, integer: true },
      },
      { seconds: 5, warmup: 1, concurrency: 32 },
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
}

async function measure(subject: Subject, grant: 'client_credentials' | 'refresh_token' | 'userinfo'): Promise<LoadResult> {
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
  } else {
    workload = {
      kind: 'requests',
      requests: subject.sessions.map((s) => ({ method: 'GET', path: subject.userinfoPath, headers: { authorization: `Bearer ${s.accessToken}` } })),
    };
  }
  const result = await runLoad({
    baseUrl: subject.baseUrl,
    workload,
    concurrency: options.concurrency,
    warmupRequests: Number.MAX_SAFE_INTEGER,
    warmupSeconds: options.warmup,
    maxRequests: Number.MAX_SAFE_INTEGER,
    seconds: options.seconds,
    expectStatus: 200,
  });
  if (result.errors > 0) console.log(`  ${subject.label} ${grant}: ${result.errors} unexpected answers, e.g. ${result.errorSamples.join(' | ')}`);
  return result;
}

async function ourSubject(bench: BenchService): Promise<Subject> {
  const tenant: OurTenant = await setUpTenant(bench, options.concurrency);
  const sessions = await mapWithConcurrency(tenant.users, SETUP_CONCURRENCY, async (user) => {
    const tokens = await tenant.login(user);
    check(tokens.refresh_token, 'our login gives a refresh token');
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token! };
  });
  return { label: 'ours', baseUrl: bench.baseUrl, tokenPath: tenant.tokenPath, userinfoPath: tenant.userinfoPath, clientAuthorization: tenant.clientAuthorization, extraParams: {}, sessions };
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
    clientAuthorization: reference.clientAuthorization,
    extraParams: { resource: RESOURCE },
    sessions,
  };
}

async function main(): Promise<void> {
  console.log(
    `token benchmark: ${options.concurrency} concurrent keep-alive clients, ${options.warmup} s warm-up + ${options.seconds} s per case, ` +
      `our request log at level ${options.logLevel}`,
  );
  const bench = await startBenchService({ name: 'bench-tokens', logLevel: options.logLevel });
  let reference: ReferenceProvider | undefined;
  try {
    const accounts: Account[] = Array.from({ length: options.concurrency }, (_, i) => ({ id: `account-${i}`, email: `user.${i}@bench.example.com`, name: `user-${i}` }));
    reference = await startOidcProvider(accounts);
    const started = Date.now();
    const subjects = [await ourSubject(bench), await referenceSubject(reference, accounts)];
    for (const subject of subjects) await verifyEquivalence(subject);
    console.log(`  ${options.concurrency} sessions on each provider, set up and checked in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const rows: Row[] = [];
    for (const grant of ['client_credentials', 'userinfo', 'refresh_token'] as const) {
      for (const subject of subjects) {
        const result = await measure(subject, grant);
        rows.push({ grant, provider: subject.label, result });
        console.log(`  done: ${grant}, ${subject.label}: ${fmtInt(result.rate)} requests/s`);
      }
    }
    console.log();
    printTable(
      ['case', 'provider', 'requests', 'seconds', 'requests/s', 'p50 ms', 'p99 ms', 'errors'],
      rows.map((r) => [r.grant, r.provider, fmtInt(r.result.count), r.result.seconds.toFixed(2), fmtInt(r.result.rate), fmtMs(r.result.p50), fmtMs(r.result.p99), String(r.result.errors)]),
    );

    const rate = (grant: string, provider: Subject['label']) => rows.find((r) => r.grant === grant && r.provider === provider)!.result.rate;
    const ratio = (grant: string) => rate(grant, 'ours') / rate(grant, 'oidc-provider');
    const ccRatio = ratio('client_credentials');
    const refreshRatio = ratio('refresh_token');
    const clean = rows.every((r) => r.result.errors === 0);
    const ccMet = clean && ccRatio >= CC_GOAL_RATIO;
    const refreshMet = clean && refreshRatio >= REFRESH_GOAL_RATIO;
    console.log();
    console.log(`ours / oidc-provider: client_credentials ${ccRatio.toFixed(2)}x, refresh_token ${refreshRatio.toFixed(2)}x, userinfo ${ratio('userinfo').toFixed(2)}x`);
    if (!clean) console.log('some requests failed (see above): the goals cannot be met by this run');
    console.log(`goal: client credentials at least as fast as oidc-provider (>= ${CC_GOAL_RATIO}x): ${ccMet ? 'MET' : 'NOT MET'} (${ccRatio.toFixed(2)}x)`);
    console.log(`goal: durable refresh at least ${REFRESH_GOAL_RATIO}x oidc-provider's rate: ${refreshMet ? 'MET' : 'NOT MET'} (${refreshRatio.toFixed(2)}x)`);
    console.log(`overall: ${ccMet && refreshMet ? 'goals met' : 'goals NOT met'}`);
  } finally {
    await reference?.close();
    await bench.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
