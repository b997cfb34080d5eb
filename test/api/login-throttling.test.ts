import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { authorizationUrl, createTenant, hiddenField, pkcePair, signIn, type Tenant } from '../support/oidc.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';

interface Answer {
  status: number;
  retryAfter?: string;
  body: string;
}

/** A form POST from a chosen loopback address (Linux routes all of 127/8 to lo), as if from another machine. */
function postFrom(localAddress: string, url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
  const target = new URL(url);
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8'), ...(res.headers['retry-after'] && { retryAfter: String(res.headers['retry-after']) }) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The login form's signed state for a new authorization request of this client. */
async function loginState(server: TestServer, tenant: Tenant): Promise<string> {
  const url = authorizationUrl(server, {
    response_type: 'code',
    client_id: tenant.confidential.clientId,
    redirect_uri: tenant.redirectUri,
    scope: 'openid',
    code_challenge: pkcePair().challenge,
    code_challenge_method: 'S256',
  });
  return hiddenField(await (await fetch(url)).text(), 'state')!;
}

const alertOf = (html: string) => /role="alert">([^<]*)</.exec(html)?.[1];

describe('login throttling: progressive delays per account and source, never a lock', () => {
  let server: TestServer;
  let tenant: Tenant;

  before(async () => {
    server = await startTestServer({ env: { THROTTLE_SOURCE_FREE_FAILURES: '3', THROTTLE_ACCOUNT_FREE_FAILURES: '8', THROTTLE_SOURCE_REQUESTS_PER_MINUTE: '1000' } });
    tenant = await createTenant(server);
  });
  after(() => server.close());

  const login = async (from: string, email: string, password: string, who = tenant) =>
    postFrom(from, `${server.baseUrl}/oauth2/v2/login`, { state: await loginState(server, who), email, password });

  test("an attacker's failures slow the attacker down, not the real user signing in from elsewhere", async () => {
    const attacker = '127.0.0.2';
    const answers: Answer[] = [];
    for (let i = 0; i < 6; i++) answers.push(await login(attacker, tenant.email, `wrong password ${i}`));
    assert.deepEqual(
      answers.slice(0, 4).map((a) => a.status),
      [200, 200, 200, 200],
      'the free failures, and the one that starts the delay',
    );
    const throttled = answers.slice(4);
    for (const answer of throttled) {
      assert.equal(answer.status, 429);
      assert.ok(Number(answer.retryAfter) >= 1, `Retry-After: ${answer.retryAfter}`);
      assert.match(alertOf(answer.body)!, /Too many attempts/);
    }
    // Even the right password waits, from the attacker's address...
    assert.equal((await login(attacker, tenant.email, tenant.password)).status, 429);
    // ...but the real user, from their own network, signs in at once.
    const real = await login('127.0.0.3', tenant.email, tenant.password);
    assert.equal(real.status, 302, alertOf(real.body));
    // An audit event says so (sampled), on the account's own stream, naming it by id, never by the email typed.
    const event = await eventually(async () =>
      (await server.service.stores.events.readStream(`userlogins-${tenant.userId}`)).find((e) => e.type === 'login.throttled'),
    );
    assert.equal((event.data as { limit: string }).limit, 'account_source_delay');
    assert.equal((event.data as { userId: string }).userId, tenant.userId);
    assert.ok(!JSON.stringify(event.data).includes(tenant.email));
  });

  test('unknown email, wrong password and a throttled account get the same answers', async () => {
    const unknown = await login('127.0.0.4', 'nobody@example.com', 'some password here');
    const wrong = await login('127.0.0.4', tenant.email, 'some password here');
    assert.equal(unknown.status, wrong.status);
    assert.equal(alertOf(unknown.body), alertOf(wrong.body));
    // Throttling keys on the email as typed, so an unknown email is slowed exactly like a real one.
    const statuses = async (email: string, from: string) => {
      const all: number[] = [];
      for (let i = 0; i < 5; i++) all.push((await login(from, email, `wrong ${i}`)).status);
      return all;
    };
    assert.deepEqual(await statuses('nobody-else@example.com', '127.0.0.5'), await statuses(tenant.email, '127.0.0.6'));
  });

  test('failures from many addresses slow every new address for that account, but not one the account signed in from', async () => {
    const user = await createTenant(server);
    // The user signs in from home once: a known address.
    assert.equal((await login('127.0.1.1', user.email, user.password, user)).status, 302);
    // Addresses it never used, one failure each, until the account's shared allowance (8) is spent: then new addresses wait.
    let first429 = -1;
    for (let i = 0; i < 20 && first429 < 0; i++) {
      const answer = await login(`127.0.2.${i + 1}`, user.email, 'guess guess guess', user);
      if (answer.status === 429) first429 = i;
      else assert.equal(answer.status, 200);
    }
    assert.ok(first429 >= 8, `the first ${first429} addresses were slowed down, before the allowance was spent`);
    assert.equal((await login('127.0.1.1', user.email, user.password, user)).status, 302, 'home still signs in');
  });

  test('a wrong current password at /api/v1/me/password slows the caller down and never locks the account', async () => {
    const user = await createTenant(server);
    const { access_token } = await signIn(server, user);
    const change = (current: string) =>
      fetch(`${server.baseUrl}/api/v1/me/password`, {
        method: 'POST',
        headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ currentPassword: current, newPassword: 'a brand new password' }),
      });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await change(`not it ${i}`)).status);
    assert.deepEqual(statuses.slice(0, 4), [400, 400, 400, 400]);
    assert.equal(statuses[5], 429);
    // The account is not locked: its password still signs in, from another address.
    assert.equal((await login('127.0.4.1', user.email, user.password, user)).status, 302);
  });
});

describe('login throttling: rate limits and the password-hash queue', () => {
  let server: TestServer;
  let tenant: Tenant;

  before(async () => {
    server = await startTestServer({
      env: { THROTTLE_SOURCE_REQUESTS_PER_MINUTE: '5', THROTTLE_TOKEN_REQUESTS_PER_MINUTE: '3', PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '1' },
    });
    tenant = await createTenant(server);
  });
  after(() => server.close());

  test('a source over its rate gets 429 with Retry-After; another source does not', async () => {
    const statuses: number[] = [];
    let last: Answer | undefined;
    for (let i = 0; i < 6; i++) {
      // No password: answered at once (the budget is spent before any check), so the test does not wait for refills.
      last = await postFrom('127.0.5.1', `${server.baseUrl}/oauth2/v2/login`, { state: await loginState(server, tenant), email: `user${i}@example.com`, password: '' });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
    assert.ok(Number(last!.retryAfter) >= 1);
    // An X-Forwarded-For from an address that is not a trusted proxy changes nothing.
    const forged = await postFrom(
      '127.0.5.1',
      `${server.baseUrl}/oauth2/v2/login`,
      { state: await loginState(server, tenant), email: 'x@example.com', password: '' },
      { 'x-forwarded-for': '198.51.100.77' },
    );
    assert.equal(forged.status, 429);
    const other = await postFrom('127.0.5.2', `${server.baseUrl}/oauth2/v2/login`, { state: await loginState(server, tenant), email: tenant.email, password: tenant.password });
    assert.equal(other.status, 302);
  });

  test('the token endpoint has its own rate per source', async () => {
    const form = { grant_type: 'client_credentials', client_id: tenant.confidential.clientId, client_secret: tenant.confidential.clientSecret };
    const statuses: number[] = [];
    let last: Answer | undefined;
    for (let i = 0; i < 4; i++) {
      last = await postFrom('127.0.6.1', `${server.baseUrl}/oauth2/v2/token`, form);
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.ok(Number(last!.retryAfter) >= 1);
    assert.equal((JSON.parse(last!.body) as { error: string }).error, 'temporarily_unavailable');
  });

  test('a flood of logins is shed with 503 and Retry-After at once, and a user at a known address still signs in', async () => {
    const home = '127.0.7.100';
    const realLogin = async () =>
      postFrom(home, `${server.baseUrl}/oauth2/v2/login`, { state: await loginState(server, tenant), email: tenant.email, password: tenant.password });
    assert.equal((await realLogin()).status, 302, 'the user signs in from home once');
    const states = await Promise.all(Array.from({ length: 12 }, () => loginState(server, tenant)));
    const realState = await loginState(server, tenant);
    const flood = states.map((state, i) => postFrom(`127.0.7.${i + 1}`, `${server.baseUrl}/oauth2/v2/login`, { state, email: `flood${i}@example.com`, password: 'flood password' }));
    const real = postFrom(home, `${server.baseUrl}/oauth2/v2/login`, { state: realState, email: tenant.email, password: tenant.password });
    const answers = await Promise.all(flood);
    const shed = answers.filter((a) => a.status === 503);
    assert.ok(shed.length >= 1, answers.map((a) => a.status).join(','));
    for (const answer of shed) {
      assert.equal(answer.retryAfter, '1');
      assert.match(alertOf(answer.body)!, /Try again in a moment/);
    }
    assert.ok(answers.some((a) => a.status === 200), 'some were checked');
    // The user's password check went ahead of the flood's.
    assert.equal((await real).status, 302);
  });
});

describe('login throttling behind a trusted proxy', () => {
  let server: TestServer;
  let tenant: Tenant;
  before(async () => {
    server = await startTestServer({ env: { TRUSTED_PROXIES: '127.0.8.1', THROTTLE_SOURCE_REQUESTS_PER_MINUTE: '2' } });
    tenant = await createTenant(server);
  });
  after(() => server.close());

  test("limits count the client's address the proxy forwards, not the proxy's", async () => {
    const from = async (client: string, forwardedFor = client) =>
      (
        await postFrom('127.0.8.1', `${server.baseUrl}/oauth2/v2/login`, { state: await loginState(server, tenant), email: 'x@example.com', password: '' }, { 'x-forwarded-for': forwardedFor })
      ).status;
    assert.deepEqual([await from('203.0.113.1'), await from('203.0.113.1'), await from('203.0.113.1')], [200, 200, 429]);
    assert.equal(await from('203.0.113.2'), 200, 'another client behind the same proxy has its own budget');
    // What a client writes to the left of what the proxy appended cannot pick another budget.
    assert.equal(await from('203.0.113.1', '198.51.100.9, 203.0.113.1'), 429);
  });
});
