import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { refreshSession, revokeSession, sessionDecider, type SessionState, startSession } from '../../src/domain/session/decider.js';
import type { SessionEvent, SessionFacts } from '../../src/domain/session/events.js';

const hash = (c: string) => c.repeat(64);
const facts: Omit<SessionFacts, 'refreshCount'> = {
  sessionId: 'sid-1',
  clientId: 'client-1',
  subjectId: 'user-1',
  subjectKind: 'user',
  organizationId: 'org-1',
  scope: 'openid offline_access',
  authTime: 1_700_000_000,
  refreshTokenSha256: hash('a'),
};
const fold = (events: SessionEvent[]): SessionState => events.reduce(sessionDecider.evolve, sessionDecider.initialState());
const started = startSession(facts);
const rotated: SessionEvent = { type: 'session.refreshed', data: { ...facts, refreshCount: 1, refreshTokenSha256: hash('b') } };
const rotatedTwice: SessionEvent = { type: 'session.refreshed', data: { ...facts, refreshCount: 2, refreshTokenSha256: hash('c') } };

const t0 = new Date('2026-01-01T00:00:00.000Z');
const after = (ms: number) => new Date(t0.getTime() + ms);
const YEAR_MS = 365 * 86_400_000;
const timing = (sinceLastChangeMs: number, lifetimes = { absoluteMs: 10 * YEAR_MS, idleMs: 10 * YEAR_MS }) => ({
  now: after(sinceLastChangeMs),
  lastChangeAt: t0,
  reuseGraceMs: 10_000,
  lifetimes,
});
const presented = (refreshCount: number, overrides: Partial<{ sessionId: string; clientId: string; hashMatches: boolean }> = {}) => ({
  sessionId: 'sid-1',
  clientId: 'client-1',
  refreshCount,
  hashMatches: true,
  ...overrides,
});
const next = { refreshTokenSha256: hash('d') };

describe('session decider', () => {
  test('a login starts a generation at refresh count 0; the newest event is the whole state', () => {
    assert.deepEqual(started, [{ type: 'session.started', data: { ...facts, refreshCount: 0 } }]);
    assert.deepEqual(fold([...started, rotated]), { status: 'active', ...facts, refreshCount: 1, refreshTokenSha256: hash('b') });
    // A new login supersedes: its facts replace the old generation's.
    const newer = startSession({ ...facts, sessionId: 'sid-2' });
    assert.equal((fold([...started, rotated, ...newer]) as { sessionId: string }).sessionId, 'sid-2');
  });

  test('the current token rotates: the count goes up and the new hash is recorded', () => {
    const decision = refreshSession(fold([...started, rotated]), presented(1), next, timing(60_000));
    assert.equal(decision.refusal, undefined);
    assert.deepEqual(decision.events, [{ type: 'session.refreshed', data: { ...facts, refreshCount: 2, refreshTokenSha256: hash('d') } }]);
  });

  test('a token rotated away is reuse and revokes the session; the one just rotated away is refused without revoking, for a while', () => {
    const state = fold([...started, rotated]);
    const revoked = [{ type: 'session.revoked', data: { ...facts, refreshCount: 1, refreshTokenSha256: hash('b'), reason: 'refresh_token_reused' } }];
    // Within the grace period: a concurrent or retried request of the client itself.
    assert.deepEqual(refreshSession(state, presented(0), next, timing(9_999)), { events: [], refusal: 'rotated_concurrently' });
    // After it: reuse.
    assert.deepEqual(refreshSession(state, presented(0), next, timing(10_000)), { events: revoked, refusal: 'not_current' });
    // Two rotations behind: the successor was used, so this is reuse whatever the time.
    const twice = fold([...started, rotated, rotatedTwice]);
    const decision = refreshSession(twice, presented(0), next, timing(1));
    assert.equal(decision.refusal, 'not_current');
    assert.equal(decision.events[0]?.type, 'session.revoked');
  });

  test('another client, another generation, a wrong hash, a revoked or unknown session: refused, nothing written', () => {
    const state = fold(started);
    assert.deepEqual(refreshSession(state, presented(0, { clientId: 'client-2' }), next, timing(0)), { events: [], refusal: 'wrong_client' });
    assert.deepEqual(refreshSession(state, presented(0, { sessionId: 'sid-0' }), next, timing(0)), { events: [], refusal: 'superseded' });
    assert.deepEqual(refreshSession(state, presented(0, { hashMatches: false }), next, timing(0)), { events: [], refusal: 'superseded' });
    const ended = fold([...started, ...revokeSession(state, 'revoked_by_client')]);
    assert.equal(ended.status, 'revoked');
    assert.deepEqual(refreshSession(ended, presented(0), next, timing(0)), { events: [], refusal: 'session_ended' });
    assert.deepEqual(refreshSession(fold([]), presented(0), next, timing(0)), { events: [], refusal: 'unknown_session' });
  });

  test('revocation ends only the named generation, once', () => {
    const state = fold(started);
    assert.deepEqual(revokeSession(state, 'user_removed', 'sid-other'), []);
    const events = revokeSession(state, 'user_removed', 'sid-1');
    assert.deepEqual(events, [{ type: 'session.revoked', data: { ...facts, refreshCount: 0, reason: 'user_removed' } }]);
    assert.deepEqual(revokeSession(fold([...started, ...events]), 'user_removed'), []);
    assert.deepEqual(revokeSession(fold([]), 'user_removed'), []);
  });

  test('past its absolute lifetime, or idle too long, a refresh token is refused and nothing is written', () => {
    // Given a session that started at t0 and was last rotated at t0
    const state = fold(startSession({ ...facts, authTime: t0.getTime() / 1000 }));
    const lifetimes = { absoluteMs: 90 * 86_400_000, idleMs: 30 * 86_400_000 };
    // When it is refreshed just before the idle lifetime: it rotates
    assert.equal(refreshSession(state, presented(0), next, timing(30 * 86_400_000 - 1, lifetimes)).refusal, undefined);
    // When it is refreshed at the idle lifetime: expired
    assert.deepEqual(refreshSession(state, presented(0), next, timing(30 * 86_400_000, lifetimes)), { events: [], refusal: 'expired' });
    // When it was rotated recently but started 90 days ago: expired all the same
    const rotatedLately = { ...timing(90 * 86_400_000, lifetimes), lastChangeAt: after(90 * 86_400_000 - 1000) };
    assert.deepEqual(refreshSession(state, presented(0), next, rotatedLately), { events: [], refusal: 'expired' });
  });
});
