/**
 * Login under a flood (`npm run bench:login`).
 *
 * A real user signs in (the login form, a right password) from its own
 * address, first alone, then while `--flood` concurrent lanes post logins with
 * made-up emails as fast as they are answered. Three configurations run one
 * after the other in this process, the same load each time:
 *
 * - unbounded: the reference, as before throttling (no bound on concurrent
 *   password hashes, no per-address budget): every flood login costs a scrypt;
 * - hash queue: the bound on concurrent hashes only (the flood comes from many
 *   addresses, so no per-address budget applies): a flood beyond the queue is
 *   answered 503 at once;
 * - defaults: everything on, the flood from one address: its budget answers
 *   429 without hashing.
 *
 *   node dist/scripts/bench-login.js [--seconds N] [--flood N]
 */
import { request } from 'node:http';
import { hostname, cpus } from 'node:os';
import { fmtInt, fmtMs, parseOptions, printTable } from './bench/report.js';
import { type BenchService, created, startBenchService } from './bench/service.js';

const usage = 'usage: bench-login [--seconds N (default 8, 2..120)] [--flood N (default 48, 1..512)] [--samples N (default 5, 1..50)]';
const options = (() => {
  try {
    return parseOptions(
      process.argv.slice(2),
      {
        seconds: { flag: '--seconds', min: 2, max: 120 },
        flood: { flag: '--flood', min: 1, max: 512, integer: true },
        samples: { flag: '--samples', min: 1, max: 50, integer: true },
      },
      { seconds: 8, flood: 48, samples: 5 },
      usage,
    );
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
})();

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const PASSWORD = 'the real user password, long';

interface Answer {
  readonly status: number;
  readonly body: string;
}

function post(baseUrl: string, path: string, form: Record<string, string>, localAddress: string): Promise<Answer> {
  const url = new URL(path, baseUrl);
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function loginState(bench: BenchService, clientId: string): Promise<string> {
  const url = new URL('/oauth2/v2/authorization', bench.baseUrl);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString();
  const html = await (await fetch(url)).text();
  return /name="state" value="([^"]*)"/.exec(html)![1]!.replace(/&amp;/g, '&');
}

interface Result {
  readonly label: string;
  readonly alone: number[];
  readonly flooded: { ms: number; status: number }[];
  readonly floodStatuses: Map<number, number>;
}

async function measure(label: string, env: Record<string, string>, floodFromOneAddress: boolean): Promise<Result> {
  const bench = await startBenchService({ name: `bench-login-${label.replace(/\W+/g, '-')}`, logLevel: 'error', env });
  try {
    const org = await created(bench, '/api/v1/organizations', { metadata: { name: 'bench-login' }, spec: { organizationType: 'adhoc' } });
    const organizationId = org.metadata.id as string;
    await created(bench, `/api/v1/organizations/${organizationId}/users`, {
      metadata: { name: 'real-user' },
      spec: { subject: 'real@bench.example.com', state: 'active', groupIDs: [], password: PASSWORD },
    });
    const app = await created(bench, `/api/v1/organizations/${organizationId}/applications`, {
      metadata: { name: 'bench-login' },
      spec: { redirectURIs: [REDIRECT_URI], groupIDs: [], grantTypes: ['authorization_code'], public: true },
    });
    const clientId = app.metadata.id as string;

    const realLogin = async () => {
      const state = await loginState(bench, clientId);
      const started = performance.now();
      const answer = await post(bench.baseUrl, '/oauth2/v2/login', { state, email: 'real@bench.example.com', password: PASSWORD }, '127.0.0.2');
      return { ms: performance.now() - started, status: answer.status };
    };

    const alone: number[] = [];
    for (let i = 0; i < options.samples; i++) {
      const { ms, status } = await realLogin();
      if (status !== 302) throw new Error(`${label}: the real login answered ${status}`);
      alone.push(ms);
    }

    // The flood: lanes posting made-up emails until the deadline.
    const floodStatuses = new Map<number, number>();
    const deadline = performance.now() + options.seconds * 1000;
    const state = await loginState(bench, clientId);
    let counter = 0;
    const lanes = Array.from({ length: options.flood }, async (_, lane) => {
      const address = floodFromOneAddress ? '127.0.1.1' : `127.0.${2 + Math.floor(lane / 200)}.${1 + (lane % 200)}`;
      while (performance.now() < deadline) {
        const answer = await post(bench.baseUrl, '/oauth2/v2/login', { state, email: `made-up-${counter++}@example.com`, password: 'not a real password' }, address);
        floodStatuses.set(answer.status, (floodStatuses.get(answer.status) ?? 0) + 1);
      }
    });
    // Let the flood build up, then sign in as the real user, one login after another.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const flooded: { ms: number; status: number }[] = [];
    while (flooded.length < options.samples && performance.now() < deadline) flooded.push(await realLogin());
    await Promise.all(lanes);
    return { label, alone, flooded, floodStatuses };
  } finally {
    await bench.close();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!;
};

async function main() {
  console.log(`bench:login on ${hostname()} (${cpus().length} × ${cpus()[0]?.model ?? '?'}), Node ${process.version}; flood ${options.flood} lanes for ${options.seconds} s; ${options.samples} real logins each`);
  const unlimited = { THROTTLE_SOURCE_REQUESTS_PER_MINUTE: '100000', THROTTLE_ACCOUNT_FREE_FAILURES: '100000', THROTTLE_SOURCE_FREE_FAILURES: '1000' };
  const results = [
    await measure('unbounded (reference)', { ...unlimited, PASSWORD_HASH_CONCURRENCY: '64', PASSWORD_HASH_QUEUE: '10000' }, false),
    await measure('hash queue (flood from many addresses)', unlimited, false),
    await measure('defaults (flood from one address)', {}, true),
  ];
  printTable(
    ['configuration', 'real login alone, median ms', 'during the flood, median ms', 'max ms', 'real logins answered (302/503/other)', 'flood answers by status'],
    results.map((r) => {
      const ok = r.flooded.filter((f) => f.status === 302);
      const shed = r.flooded.filter((f) => f.status === 503).length;
      return [
        r.label,
        fmtMs(median(r.alone)),
        fmtMs(median(ok.map((f) => f.ms))),
        fmtMs(Math.max(...r.flooded.map((f) => f.ms))),
        `${ok.length}/${shed}/${r.flooded.length - ok.length - shed}`,
        [...r.floodStatuses.entries()].sort().map(([status, count]) => `${status}: ${fmtInt(count)}`).join(', '),
      ];
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
