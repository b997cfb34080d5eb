import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HashQueue, HashQueueFullError } from '../../src/infra/crypto/hash-queue.js';
import { LoginThrottle } from '../../src/api/auth/login-throttle.js';
import { trustedProxyList } from '../../src/api/middleware/client-certificate.js';
import { FailureDelays } from '../../src/infra/throttle/failure-delays.js';
import { TokenBuckets } from '../../src/infra/throttle/token-buckets.js';

describe('token buckets', () => {
  test('a burst of capacity, then one token per 1/refill seconds', () => {
    const buckets = new TokenBuckets(3, 1);
    const t = 1_000_000;
    assert.deepEqual([1, 2, 3].map(() => buckets.take('a', t).ok), [true, true, true]);
    assert.deepEqual(buckets.take('a', t), { ok: false, retryAfterSeconds: 1 });
    assert.equal(buckets.take('b', t).ok, true, 'keys are independent');
    assert.equal(buckets.take('a', t + 1000).ok, true);
    assert.equal(buckets.take('a', t + 1000).ok, false);
  });

  test('at most maxKeys buckets, the least recently used dropped', () => {
    const buckets = new TokenBuckets(1, 0.001, 2);
    buckets.take('a', 0);
    buckets.take('b', 0);
    buckets.take('a', 0); // a is now the most recently used
    buckets.take('c', 0); // drops b
    assert.equal(buckets.take('a', 0).ok, false, 'a was kept, empty');
    assert.equal(buckets.take('b', 0).ok, true, 'b was dropped and starts full');
  });
});

describe('failure delays', () => {
  test('free failures, then a doubling wait up to the maximum; a success clears it', () => {
    const delays = new FailureDelays(2, 5);
    const t = 0;
    delays.failed('k', t);
    delays.failed('k', t);
    assert.equal(delays.waitSeconds('k', t), 0);
    const waits = [3, 4, 5, 6, 7].map((_, i) => {
      delays.failed('k', t);
      return delays.waitSeconds('k', t + i * 0);
    });
    assert.deepEqual(waits, [1, 2, 4, 5, 5]);
    delays.succeeded('k');
    assert.equal(delays.waitSeconds('k', t), 0);
  });
});

describe('login throttle: maximum_password_attempts', () => {
  test("an organization's number of free failures replaces the default for the failures it is given with", () => {
    let now = 1_000_000;
    const throttle = new LoginThrottle(
      { sourceRequestsPerMinute: 1000, tokenRequestsPerMinute: 1000, sourceFreeFailures: 5, accountFreeFailures: 1000, maxDelaySeconds: 900 },
      undefined,
      () => now,
    );
    const failuresUntilWait = (account: string, free?: number) => {
      for (let i = 1; i <= 20; i++) {
        if (!throttle.attempt(account, '10.0.0.1').allowed) return i - 1;
        throttle.failed(account, '10.0.0.1', free);
      }
      return Infinity;
    };
    // n free failures, then the (n+1)th makes the next attempt wait.
    assert.equal(failuresUntilWait('org-a\u0000a@example.com', 2), 3);
    assert.equal(failuresUntilWait('org-a\u0000nobody@example.com', 2), 3, 'an unknown email of the same organization: the same');
    assert.equal(failuresUntilWait('org-b\u0000b@example.com'), 6, 'no policy given: THROTTLE_SOURCE_FREE_FAILURES');
    assert.equal(failuresUntilWait('org-c\u0000c@example.com', 1), 2);
    now += 1000;
    assert.equal(throttle.attempt('org-c\u0000c@example.com', '10.0.0.1').allowed, true, 'the wait ends by itself: nothing is locked');
  });
});

describe('hash queue', () => {
  test('runs at most `concurrency` at once, queues at most `maxWaiting`, refuses the rest at once', async () => {
    const queue = new HashQueue(1, 1);
    let running = 0;
    let most = 0;
    const release: (() => void)[] = [];
    const work = () =>
      queue.run(async () => {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => release.push(resolve));
        running--;
      });
    const first = work();
    const second = work();
    await assert.rejects(work(), HashQueueFullError);
    await new Promise((resolve) => setImmediate(resolve));
    release.shift()!();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    release.shift()!();
    await second;
    assert.equal(most, 1);
    // Free again.
    const third = work();
    await new Promise((resolve) => setImmediate(resolve));
    release.shift()!();
    await third;
  });

  test('one source holds a few places at most; a priority request is served before every ordinary one', async () => {
    // concurrency 1, 4 waiting: a source may hold 1 + 1 places.
    const queue = new HashQueue(1, 4);
    const order: string[] = [];
    const release: (() => void)[] = [];
    const work = (name: string, lane = {}) =>
      queue.run(async () => {
        order.push(name);
        await new Promise<void>((resolve) => release.push(resolve));
      }, lane);
    const running = work('flood-1', { key: 'flooder' });
    const waitingFlood = work('flood-2', { key: 'flooder' });
    await assert.rejects(work('flood-3', { key: 'flooder' }), HashQueueFullError, 'the same source, beyond its places, at once refused');
    const ordinary = work('stranger', { key: 'stranger' });
    const known = work('known user', { key: 'home', priority: true });
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 4; i++) {
      release.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all([running, waitingFlood, ordinary, known]);
    assert.deepEqual(order, ['flood-1', 'known user', 'flood-2', 'stranger']);
  });
});

describe('login throttle: the source of a request', () => {
  const policy = { sourceRequestsPerMinute: 10, tokenRequestsPerMinute: 10, sourceFreeFailures: 3, accountFreeFailures: 10, maxDelaySeconds: 60 };
  const requestOn = (socket: { remoteAddress?: string }, forwardedFor?: string) =>
    ({ socket, get: (name: string) => (name.toLowerCase() === 'x-forwarded-for' ? forwardedFor : undefined) }) as unknown as Parameters<LoginThrottle['sourceOf']>[0];

  test("a trusted proxy's connection: each request's X-Forwarded-For counts, though the peer is decided once", () => {
    const throttle = new LoginThrottle(policy, trustedProxyList(['10.0.0.0/8']));
    const proxy = { remoteAddress: '::ffff:10.1.2.3' };
    assert.equal(throttle.sourceOf(requestOn(proxy, '203.0.113.9')), '203.0.113.9');
    assert.equal(throttle.sourceOf(requestOn(proxy, '198.51.100.1, 10.0.0.5')), '198.51.100.1');
    assert.equal(throttle.sourceOf(requestOn(proxy)), '10.1.2.3');
    assert.equal(throttle.sourceOf(requestOn(proxy, 'not an address')), '10.1.2.3');
  });

  test("any other peer's X-Forwarded-For is ignored on every request of its connection", () => {
    const throttle = new LoginThrottle(policy, trustedProxyList(['10.0.0.0/8']));
    const client = { remoteAddress: '::ffff:192.0.2.7' };
    for (const forwarded of [undefined, '203.0.113.9', '10.0.0.1']) assert.equal(throttle.sourceOf(requestOn(client, forwarded)), '192.0.2.7');
    const unconfigured = new LoginThrottle(policy);
    assert.equal(unconfigured.sourceOf(requestOn({ remoteAddress: '10.1.2.3' }, '203.0.113.9')), '10.1.2.3');
  });
});
