import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RecordedEvent } from '../../../src/ports/event-store.js';
import { type LiveTokenFacts, LiveTokens } from '../../../src/projections/sessions/live-tokens.js';

const NOW = 1_800_000_000_000;

const facts = (n: number, over: { sid?: string; userId?: string; clientId?: string; organizationId?: string; exp?: number } = {}): LiveTokenFacts => {
  const userId = over.userId ?? `user-${n}`;
  const clientId = over.clientId ?? 'client-1';
  const organizationId = over.organizationId ?? 'org-1';
  const sid = over.sid ?? `sid-${n}`;
  return {
    claims: { sub: userId, client_id: clientId, sid, scope: 'openid', jti: `jti-${n}`, exp: over.exp ?? NOW / 1000 + 600, iat: NOW / 1000 },
    session: { _id: `session-${clientId}-${userId}`, sessionId: sid, clientId, subjectId: userId, subjectKind: 'user', organizationId, active: true, startedAt: 1 },
    user: { sub: userId, email: `${userId}@example.com`, name: userId, organizationId },
  };
};

const event = (type: string, streamName: string, data: Record<string, unknown>): RecordedEvent =>
  ({ type, streamName, data, metadata: {}, position: { commit: 1n, prepare: 1n }, revision: 0 }) as unknown as RecordedEvent;

describe('LiveTokens', () => {
  test('remembers a check until the token expires; keyed by the token itself', () => {
    let now = NOW;
    const cache = new LiveTokens(10, () => now);
    const key = 'header.payload.signature';
    cache.remember(key, facts(1), cache.mark());
    assert.equal(cache.get(key)?.claims.jti, 'jti-1');
    now = NOW + 600_000;
    assert.equal(cache.get(key), undefined, 'expired');
    assert.equal(cache.size, 0);
  });

  test('a check resolved across an invalidation is not remembered (it may hold what was true before)', () => {
    const cache = new LiveTokens(10, () => NOW);
    const mark = cache.mark();
    // While the check was reading the read models, the session was revoked.
    cache.observe(event('session.revoked', 'session-client-1-user-1', { sessionId: 'sid-1' }));
    cache.remember('k1', facts(1), mark);
    assert.equal(cache.get('k1'), undefined);
    cache.remember('k1', facts(1), cache.mark());
    assert.ok(cache.get('k1'));
  });

  test('each kind of event drops exactly the checks it can change', () => {
    const cache = new LiveTokens(100, () => NOW);
    const fill = () => {
      cache.clear();
      cache.remember('a', facts(1), cache.mark());
      cache.remember('b', facts(2), cache.mark());
      cache.remember('c', facts(3, { clientId: 'client-2', organizationId: 'org-2' }), cache.mark());
    };
    const left = () => ['a', 'b', 'c'].filter((k) => cache.get(k) !== undefined).join('');

    fill();
    cache.observe(event('session.revoked', 'session-client-1-user-1', { sessionId: 'sid-1' }));
    assert.equal(left(), 'bc');
    fill();
    cache.observe(event('session.started', 'session-client-1-user-2', { sessionId: 'sid-new' }));
    assert.equal(left(), 'ac', 'a new generation');
    fill();
    cache.observe(event('session.refreshed', 'session-client-1-user-2', { sessionId: 'sid-2' }));
    assert.equal(left(), 'abc', 'a rotation continues the generation');
    fill();
    cache.observe(event('session.refreshed', 'session-client-1-user-2', { sessionId: 'another' }));
    assert.equal(left(), 'ac');
    fill();
    cache.observe(event('user.updated', 'user-user-1', { userId: 'user-1', state: 'suspended' }));
    assert.equal(left(), 'bc');
    fill();
    cache.observe(event('user.deleted', 'user-user-3', { userId: 'user-3' }));
    assert.equal(left(), 'ab');
    fill();
    cache.observe(event('user.activity.recorded', 'useractivity-user-1', { userId: 'user-1' }));
    assert.equal(left(), 'abc', 'activity changes no check');
    fill();
    cache.observe(event('application.updated', 'application-client-1', { applicationId: 'client-1', enabled: false }));
    assert.equal(left(), 'c');
    fill();
    cache.observe(event('organization.deleted', 'organization-org-2', { organizationId: 'org-2' }));
    assert.equal(left(), 'ab');
    fill();
    cache.observe(event('group.created', 'group-g', { groupId: 'g', organizationId: 'org-1' }));
    assert.equal(left(), 'abc');
  });

  test('bounded: the least recently used goes first', () => {
    const cache = new LiveTokens(2, () => NOW);
    cache.remember('a', facts(1), cache.mark());
    cache.remember('b', facts(2), cache.mark());
    assert.ok(cache.get('a'));
    cache.remember('c', facts(3), cache.mark());
    assert.equal(cache.size, 2);
    assert.equal(cache.get('b'), undefined);
    assert.ok(cache.get('a'));
    assert.ok(cache.get('c'));
    // An evicted entry's index is gone with it: an event about it drops nothing else.
    cache.observe(event('session.revoked', 'session-client-1-user-2', { sessionId: 'sid-2' }));
    assert.equal(cache.size, 2);
  });
});
