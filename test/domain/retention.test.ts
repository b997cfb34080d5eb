import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventDigest, retentionPolicy, type RetentionSettings } from '../../src/domain/retention.js';
import type { RecordedEvent } from '../../src/ports/event-store.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const settings: RetentionSettings = {
  sessionEventRetentionMs: 7 * DAY,
  userActivityRetentionMs: 1 * DAY,
  refreshAbsoluteLifetimeMs: 90 * DAY,
  refreshIdleLifetimeMs: 30 * DAY,
};
const policy = retentionPolicy(settings);

/** A stream given as [type, sessionId, day it happened]; revisions and positions in order. */
function sessionStream(stream: string, given: Array<[string, string, number, ('user' | 'application')?]>): RecordedEvent[] {
  return given.map(([type, sessionId, day, subjectKind = 'user'], revision) => ({
    streamName: stream,
    revision,
    position: { commit: BigInt(revision + 1), prepare: BigInt(revision + 1) },
    type,
    data: {
      sessionId,
      clientId: 'c',
      subjectId: 'u',
      subjectKind,
      organizationId: 'o',
      scope: 'openid',
      authTime: Math.floor((T0 + day * DAY) / 1000),
      refreshCount: 0,
      refreshTokenSha256: null,
      ...(type === 'session.revoked' && { reason: 'revoked_by_client' }),
    },
    metadata: { eventId: `e${revision}`, occurredAt: new Date(T0 + day * DAY).toISOString(), actor: { subject: 'u', kind: 'user' }, correlationId: 'r', causationId: 'r' },
  }));
}

const removable = (events: RecordedEvent[], day: number) => policy.removable(events[0]!.streamName, events, new Date(T0 + day * DAY));

describe('retention policy: session streams', () => {
  test('given a live generation with many rotations, when scavenged at any age, then nothing goes (reuse of an old token must still revoke)', () => {
    const events = sessionStream('session-c-u', [['session.started', 'g1', 0], ['session.refreshed', 'g1', 1], ['session.refreshed', 'g1', 2], ['session.refreshed', 'g1', 20]]);
    assert.deepEqual(removable(events, 40), []);
  });

  test('given a generation superseded by a new login, then its rotations go once the retention has passed since the new login; the logins stay', () => {
    const events = sessionStream('session-c-u', [
      ['session.started', 'g1', 0],
      ['session.refreshed', 'g1', 1],
      ['session.refreshed', 'g1', 2],
      ['session.started', 'g2', 3],
      ['session.refreshed', 'g2', 4],
    ]);
    assert.deepEqual(removable(events, 9), [], 'six days after the supersession');
    assert.deepEqual(removable(events, 10), [1, 2], 'seven days after');
  });

  test('given a revoked generation, then its rotations go after the retention; the start and the revocation stay', () => {
    const events = sessionStream('session-c-u', [['session.started', 'g1', 0], ['session.refreshed', 'g1', 1], ['session.refreshed', 'g1', 2], ['session.revoked', 'g1', 3]]);
    assert.deepEqual(removable(events, 9.9), []);
    assert.deepEqual(removable(events, 10), [1, 2]);
  });

  test('given a generation past its idle lifetime, then its rotations but the newest go after the retention', () => {
    const events = sessionStream('session-c-u', [['session.started', 'g1', 0], ['session.refreshed', 'g1', 1], ['session.refreshed', 'g1', 2]]);
    // Idle since day 2: expired at day 32, removable from day 39.
    assert.deepEqual(removable(events, 38), []);
    assert.deepEqual(removable(events, 39), [1], 'the newest event is the stream’s state: it stays');
  });

  test('given a generation past its absolute lifetime while still rotating, then it has ended at the absolute lifetime', () => {
    const days = Array.from({ length: 10 }, (_, i) => ['session.refreshed', 'g1', 10 * (i + 1)] as [string, string, number]);
    const events = sessionStream('session-c-u', [['session.started', 'g1', 0], ...days]);
    assert.deepEqual(removable(events, 96), []);
    assert.deepEqual(removable(events, 97), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('given client-credentials generations, then superseded starts go after the retention, a revoked one’s start stays with its revocation', () => {
    const events = sessionStream('session-c-c', [
      ['session.started', 'g1', 0, 'application'],
      ['session.started', 'g2', 1, 'application'],
      ['session.revoked', 'g2', 2, 'application'],
      ['session.started', 'g3', 3, 'application'],
      ['session.started', 'g4', 4, 'application'],
    ]);
    assert.deepEqual(removable(events, 8), [0]);
    assert.deepEqual(removable(events, 11), [0, 3]);
  });

  test('given only one event, then nothing goes', () => {
    assert.deepEqual(removable(sessionStream('session-c-u', [['session.started', 'g1', 0]]), 1000), []);
  });
});

describe('retention policy: user activity and other streams', () => {
  const activity = (ats: number[]): RecordedEvent[] =>
    ats.map((day, revision) => ({
      streamName: 'useractivity-u',
      revision,
      position: { commit: BigInt(revision + 1), prepare: BigInt(revision + 1) },
      type: 'user.activity.recorded',
      data: { userId: 'u', organizationId: 'o', at: new Date(T0 + day * DAY).toISOString() },
      metadata: { eventId: `a${revision}`, occurredAt: new Date(T0 + day * DAY).toISOString(), actor: { subject: 'u', kind: 'user' }, correlationId: 'r', causationId: 'r' },
    }));

  test('given activity over days, then all but the newest older than a day go', () => {
    assert.deepEqual(policy.removable('useractivity-u', activity([0, 1, 2, 2.5, 3]), new Date(T0 + 3 * DAY)), [0, 1, 2]);
  });

  test('given an activity appended out of order, then the latest `at` stays as well (it is lastActive)', () => {
    assert.deepEqual(policy.removable('useractivity-u', activity([0, 2, 1]), new Date(T0 + 5 * DAY)), [0]);
  });

  test('given any other stream, then nothing goes', () => {
    assert.deepEqual(policy.removable('user-u', activity([0, 1, 2]).map((e) => ({ ...e, streamName: 'user-u' })), new Date(T0 + 100 * DAY)), []);
    assert.deepEqual(policy.categories, ['session-', 'useractivity-']);
  });

  test('the digest is the SHA-256 of type, data and metadata, and changes with any of them', () => {
    const [event] = activity([0]);
    const digest = eventDigest(event!);
    assert.match(digest, /^[0-9a-f]{64}$/);
    assert.equal(digest, eventDigest({ type: event!.type, data: { ...(event!.data as object) }, metadata: { ...event!.metadata } }));
    assert.notEqual(digest, eventDigest({ ...event!, type: 'user.other' }));
    assert.notEqual(digest, eventDigest({ ...event!, metadata: { ...event!.metadata, eventId: 'x' } }));
  });
});

describe('retention of login records', () => {
  const records = (stream: string, days: number[]): RecordedEvent[] =>
    days.map((day, revision) => ({
      streamName: stream,
      revision,
      position: { commit: BigInt(revision + 1), prepare: BigInt(revision + 1) },
      type: 'user.login.failed',
      data: { userId: 'u', organizationId: 'o', method: 'password', reason: 'wrong_password', clientId: 'c' },
      metadata: { eventId: `e${revision}`, occurredAt: new Date(T0 + day * DAY).toISOString(), actor: { subject: 'u', kind: 'user' }, correlationId: 'r', causationId: 'r' },
    }));

  test('records older than the audit window go, but the newest of each stream stays; without a window nothing goes', () => {
    const withWindow = retentionPolicy({ ...settings, loginRecordRetentionMs: 400 * DAY });
    const logins = records('userlogins-u', [0, 10, 300, 500]);
    assert.deepEqual(withWindow.removable('userlogins-u', logins, new Date(T0 + 500 * DAY)), [0, 1]);
    assert.deepEqual(withWindow.removable('loginaudit-c', records('loginaudit-c', [0, 1]), new Date(T0 + 1000 * DAY)), [0]);
    assert.ok(withWindow.categories.includes('userlogins-') && withWindow.categories.includes('loginaudit-'));
    // Unset: kept forever, and the scavenger does not even look at these streams.
    assert.deepEqual(policy.removable('userlogins-u', logins, new Date(T0 + 5000 * DAY)), []);
    assert.ok(!policy.categories.includes('userlogins-'));
  });
});
