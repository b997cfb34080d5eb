import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { accountKey, LoginThrottle, type ThrottlePolicy } from '../../src/api/auth/login-throttle.js';
import { PgThrottleRelay } from '../../src/infra/postgres/pg-throttle-relay.js';
import { eventually } from '../support/server.js';
import { freshDatabase, postgresSkipReason } from '../support/postgres.js';

const skip = await postgresSkipReason();
if (skip) console.log(`# ${skip}`);

const policy: ThrottlePolicy = { sourceRequestsPerMinute: 1000, tokenRequestsPerMinute: 1000, sourceFreeFailures: 3, accountFreeFailures: 50, maxDelaySeconds: 900 };

describe('login throttle across instances (PostgreSQL relay)', { skip }, () => {
  test('failures spread over three instances meet the delays of one', async () => {
    const url = await freshDatabase();
    const relays = await Promise.all([0, 1, 2].map(() => PgThrottleRelay.connect(url)));
    try {
      const throttles = relays.map((relay) => new LoginThrottle(policy, undefined, Date.now, relay));
      const account = accountKey('org-1', 'victim@example.com');
      const attacker = '203.0.113.9';
      // Four failures, one per instance in turn: past the three free ones.
      for (let i = 0; i < 4; i++) {
        const throttle = throttles[i % 3]!;
        assert.equal(throttle.attempt(account, attacker).allowed, true);
        throttle.failed(account, attacker);
      }
      // Every instance now makes the attacker wait, not only the one that saw the fourth.
      await eventually(async () => throttles.every((throttle) => !throttle.attempt(account, attacker).allowed), 3000);
      // The real user elsewhere is not slowed; a success on one instance clears the pair on all.
      assert.equal(throttles[0]!.attempt(account, '198.51.100.7').allowed, true);
      throttles[1]!.succeeded(account, attacker);
      await eventually(async () => throttles.every((throttle) => throttle.attempt(account, attacker).allowed), 3000);
    } finally {
      for (const relay of relays) await relay.close();
    }
  });
});
