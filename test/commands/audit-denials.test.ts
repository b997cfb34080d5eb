import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AuditDenials } from '../../src/commands/audit/denials.js';
import { Sampler } from '../../src/commands/audit/sampler.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { tempDir } from '../support/temp.js';

const meta = (at: number): CommandMetadata => ({ now: new Date(at), actor: { subject: 'sa-1', kind: 'service_account' }, correlationId: 'r', causationId: 'r' });
const denial = (route: string) => ({ caller: { kind: 'service_account' as const, id: 'sa-1' }, organizationId: 'org-1', method: 'GET' as const, route });

describe('sampled denials', () => {
  test('the first denial of a window is an event; the next window\'s first carries the count suppressed in between', async () => {
    const dir = tempDir();
    const store = new SqliteEventStore(join(dir.path, 'events.sqlite'));
    const denials = new AuditDenials(store, () => new Date(0));
    try {
      const t0 = Date.parse('2026-01-01T00:00:00Z');
      assert.ok(await denials.accessDenied(denial('/a'), meta(t0)));
      for (let i = 1; i <= 41; i++) assert.equal(await denials.accessDenied(denial('/a'), meta(t0 + i * 1000)), undefined);
      // Another route is another key.
      assert.ok(await denials.accessDenied(denial('/b'), meta(t0 + 2000)));
      // A minute after the first: a new window, with the 41 in between.
      assert.ok(await denials.accessDenied(denial('/a'), meta(t0 + 60_000)));
      const events = (await store.readStream('accessdenials-org-1')).map((event) => event.data as { route: string; suppressed: number });
      assert.deepEqual(events.map((e) => [e.route, e.suppressed]), [['/a', 0], ['/b', 0], ['/a', 41]]);
    } finally {
      await denials.close();
      await store.close();
      dir.remove();
    }
  });

  test('client authentication failures: one event per (client id, address) and window, on the client\'s stream or the platform\'s', async () => {
    const dir = tempDir();
    const store = new SqliteEventStore(join(dir.path, 'events.sqlite'));
    const denials = new AuditDenials(store);
    try {
      const failure = (clientId: string, sourceAddress: string, organizationId?: string) => ({
        clientId,
        ...(organizationId && { organizationId }),
        endpoint: 'token' as const,
        reason: organizationId ? ('wrong_secret' as const) : ('unknown_client' as const),
        method: 'client_secret_basic' as const,
        sourceAddress,
      });
      for (let i = 0; i < 5; i++) await denials.clientAuthenticationFailed(failure('app-1', '10.0.0.1', 'org-1'), meta(1000 + i));
      await denials.clientAuthenticationFailed(failure('app-1', '10.0.0.2', 'org-1'), meta(1000));
      await denials.clientAuthenticationFailed(failure('made-up', '10.0.0.1'), meta(1000));
      assert.equal((await store.readStream('loginaudit-app-1')).length, 2);
      assert.equal((await store.readStream('loginaudit-platform')).length, 1);
      await denials.flush(true);
      const flushed = (await store.readStream('loginaudit-app-1')).at(-1)!.data as { suppressed: number; flush?: boolean; sourceAddress: string };
      assert.deepEqual([flushed.suppressed, flushed.flush, flushed.sourceAddress], [4, true, '10.0.0.1']);
    } finally {
      await denials.close();
      await store.close();
      dir.remove();
    }
  });

  test('the sampler closes windows past their minute on drain, and stays bounded in keys', () => {
    const sampler = new Sampler<string>(60_000);
    assert.equal(sampler.take('k', 0, 'first'), 0);
    assert.equal(sampler.take('k', 10, 'second'), undefined);
    assert.deepEqual(sampler.drain(59_999), []);
    assert.deepEqual(sampler.drain(60_000), [{ describe: 'first', suppressed: 1 }]);
    assert.equal(sampler.size, 0);
    for (let i = 0; i < 10_050; i++) {
      sampler.take(`key-${i}`, 0, `x-${i}`);
      sampler.take(`key-${i}`, 0, `x-${i}`);
    }
    assert.equal(sampler.size, 10_000);
    // The 50 closed early come back on the next drain, with their counts.
    assert.deepEqual(sampler.drain(1).map((closed) => closed.describe), Array.from({ length: 50 }, (_, i) => `x-${i}`));
  });
});
