import { createHash } from 'node:crypto';
import type { RecordedEvent, ScavengePolicy } from '../ports/event-store.js';

/**
 * Stream retention: which events of which streams are not kept forever. One
 * policy per stream category, all here. The log stays append-only in order and
 * position: a removed event is replaced in place by a tombstone (same global
 * position, same stream revision) carrying the SHA-256 of what was there, so
 * expected-revision appends, refresh tokens (which name a revision) and a later
 * verifiable log keep working. See docs/retention.md.
 *
 * What goes:
 * - `session-*`: a generation's `session.refreshed` events (token rotations),
 *   once that generation has ended (superseded by a new login, revoked, or
 *   past its refresh lifetimes) at least `sessionEventRetentionMs` ago; and a
 *   client-credentials generation's `session.started`, once a newer generation
 *   superseded it that long ago. Logins (`session.started` of users) and
 *   revocations (`session.revoked`) stay, and so does every event of a
 *   generation that is still live: reuse of one of its rotated-away tokens
 *   must still be recognized (by the token's hash in the event that issued it)
 *   and revoke the session.
 * - `useractivity-*`: every `user.activity.recorded` older than
 *   `userActivityRetentionMs`, but the newest (and the one with the latest
 *   `at`, which is what `lastActive` shows).
 * The newest event of a stream always stays: it is the stream's state.
 */

/** The type a removed event's row takes; readers never see it. */
export const TOMBSTONE_EVENT_TYPE = '$tombstone';

export interface TombstoneData {
  /** SHA-256 (hex) of the canonical original: see eventDigest. */
  readonly sha256: string;
  /** Base64 of the original's leaf hash in the verifiable log (src/domain/ledger/leaf.ts); absent in tombstones written before it. */
  readonly leafHash?: string;
}

/**
 * The canonical form of an event for its tombstone's hash: the JSON of
 * `{type, data, metadata}` as stored (keys in their stored order).
 */
export const eventDigest = (event: { readonly type: string; readonly data: unknown; readonly metadata: unknown }): string =>
  createHash('sha256').update(JSON.stringify({ type: event.type, data: event.data, metadata: event.metadata }), 'utf8').digest('hex');

export interface RetentionSettings {
  /** How long after a session generation ended its rotation events (and a superseded client-credentials start) stay. */
  readonly sessionEventRetentionMs: number;
  /** How long older user-activity events stay beside the newest. */
  readonly userActivityRetentionMs: number;
  /** The refresh lifetimes (as the token service applies them): past them a generation has ended. */
  readonly refreshAbsoluteLifetimeMs: number;
  readonly refreshIdleLifetimeMs: number;
  /** How long a user's login records and a client's sampled login refusals stay (the newest of each stream always does); unset: forever. */
  readonly loginRecordRetentionMs?: number;
}

/** A retention policy as the scavenger applies it (the port's ScavengePolicy): which streams it looks at, and which of a stream's events go. */
export type RetentionPolicy = ScavengePolicy;

export const SESSION_CATEGORY = 'session-';
export const USER_ACTIVITY_CATEGORY = 'useractivity-';
/**
 * A user's login records (user.login.succeeded, user.login.failed), a client's sampled refusals (login.flow.rejected,
 * login.throttled, client.authentication.failed) and an organization's sampled 403s (access.denied).
 */
export const LOGIN_RECORD_CATEGORIES = ['userlogins-', 'loginaudit-', 'accessdenials-'] as const;

interface SessionData {
  readonly sessionId: string;
  readonly subjectKind: 'user' | 'application';
  readonly authTime: number;
}

const occurredAt = (event: RecordedEvent): number => Date.parse(event.metadata.occurredAt);

/** When each generation of a session stream ended (undefined: still live at `now`). */
function generationEnds(events: readonly RecordedEvent[], settings: RetentionSettings, now: Date): Map<string, number | undefined> {
  const ends = new Map<string, number | undefined>();
  const lastChange = new Map<string, number>();
  const authTimes = new Map<string, number>();
  let current: string | undefined;
  for (const event of events) {
    if (!event.type.startsWith('session.')) continue; // what this version cannot read decides nothing
    const data = event.data as SessionData;
    if (event.type === 'session.started') {
      // A new login supersedes the generation before it.
      if (current !== undefined && current !== data.sessionId && ends.get(current) === undefined) ends.set(current, occurredAt(event));
      current = data.sessionId;
      if (!ends.has(data.sessionId)) ends.set(data.sessionId, undefined);
      authTimes.set(data.sessionId, data.authTime * 1000);
    }
    if (event.type === 'session.revoked' && ends.get(data.sessionId) === undefined) ends.set(data.sessionId, occurredAt(event));
    if (event.type !== 'session.revoked') lastChange.set(data.sessionId, occurredAt(event));
  }
  // A generation nothing ended is over once its refresh tokens expired: absolute from the login, idle from the last rotation.
  for (const [sessionId, end] of ends) {
    if (end !== undefined) continue;
    const expiry = Math.min(
      (authTimes.get(sessionId) ?? 0) + settings.refreshAbsoluteLifetimeMs,
      (lastChange.get(sessionId) ?? 0) + settings.refreshIdleLifetimeMs,
    );
    if (expiry <= now.getTime()) ends.set(sessionId, expiry);
  }
  return ends;
}

/** Session streams: rotations of generations over for the retention time, superseded client-credentials starts. */
export function removableSessionEvents(events: readonly RecordedEvent[], settings: RetentionSettings, now: Date): number[] {
  if (events.length < 2) return [];
  const ends = generationEnds(events, settings, now);
  const newest = events[events.length - 1]!.revision;
  const longEnough = (sessionId: string) => {
    const end = ends.get(sessionId);
    return end !== undefined && now.getTime() - end >= settings.sessionEventRetentionMs;
  };
  const removable: number[] = [];
  for (const event of events) {
    if (event.revision === newest) continue;
    const data = event.data as SessionData;
    if (event.type === 'session.refreshed' && longEnough(data.sessionId)) removable.push(event.revision);
    // A client-credentials generation is no login: once superseded (not revoked: a revocation is kept with its start), it goes.
    if (event.type === 'session.started' && data.subjectKind === 'application' && longEnough(data.sessionId) && !revokedGeneration(events, data.sessionId)) {
      removable.push(event.revision);
    }
  }
  return removable;
}

const revokedGeneration = (events: readonly RecordedEvent[], sessionId: string): boolean =>
  events.some((event) => event.type === 'session.revoked' && (event.data as SessionData).sessionId === sessionId);

/** User-activity streams: the newest event (and the latest `at`) stays; the others go after the retention time. */
export function removableActivityEvents(events: readonly RecordedEvent[], settings: RetentionSettings, now: Date): number[] {
  if (events.length < 2) return [];
  const newest = events[events.length - 1]!.revision;
  // Activity is appended without order by several instances: lastActive is the latest `at`, whichever event carries it.
  let latest: RecordedEvent | undefined;
  for (const event of events) {
    const at = (event.data as { at?: string }).at;
    if (event.type === 'user.activity.recorded' && at !== undefined && (!latest || at > (latest.data as { at: string }).at)) latest = event;
  }
  return events
    .filter((event) => event.revision !== newest && event !== latest && event.type === 'user.activity.recorded')
    .filter((event) => now.getTime() - occurredAt(event) >= settings.userActivityRetentionMs)
    .map((event) => event.revision);
}

/**
 * Login records and refusals: kept for the retention time (the audit window),
 * then removed, but for each stream's newest event. Their rate is bounded by
 * the login throttling, so a stream holds at most that rate times the window.
 */
export function removableLoginRecords(events: readonly RecordedEvent[], retentionMs: number, now: Date): number[] {
  if (events.length < 2) return [];
  const newest = events[events.length - 1]!.revision;
  return events.filter((event) => event.revision !== newest && now.getTime() - occurredAt(event) >= retentionMs).map((event) => event.revision);
}

const isLoginRecordStream = (streamName: string): boolean => LOGIN_RECORD_CATEGORIES.some((category) => streamName.startsWith(category));

/** The service's retention policy: every category with retention, in one place. */
export function retentionPolicy(settings: RetentionSettings): RetentionPolicy {
  const loginRetention = settings.loginRecordRetentionMs;
  return {
    categories: [SESSION_CATEGORY, USER_ACTIVITY_CATEGORY, ...(loginRetention !== undefined ? LOGIN_RECORD_CATEGORIES : [])],
    removable(streamName, events, now) {
      if (streamName.startsWith(SESSION_CATEGORY)) return removableSessionEvents(events, settings, now);
      if (streamName.startsWith(USER_ACTIVITY_CATEGORY)) return removableActivityEvents(events, settings, now);
      if (loginRetention !== undefined && isLoginRecordStream(streamName)) return removableLoginRecords(events, loginRetention, now);
      return [];
    },
  };
}

/**
 * Native stream metadata for engines that apply retention themselves
 * (EventStoreDB's $maxAge and $maxCount), per category: what of the policy
 * such an engine can express. It removes by age or count, not by type.
 */
export interface NativeStreamRetention {
  readonly maxAgeSeconds?: number;
  readonly maxCount?: number;
}

export function nativeRetention(streamName: string, settings: RetentionSettings): NativeStreamRetention | undefined {
  // Every event of a session stream older than the absolute lifetime plus the retention belongs to a generation that ended at least that long ago.
  if (streamName.startsWith(SESSION_CATEGORY)) {
    return { maxAgeSeconds: Math.ceil((settings.refreshAbsoluteLifetimeMs + settings.sessionEventRetentionMs) / 1000) };
  }
  if (streamName.startsWith(USER_ACTIVITY_CATEGORY)) return { maxCount: 1 };
  if (settings.loginRecordRetentionMs !== undefined && isLoginRecordStream(streamName)) return { maxAgeSeconds: Math.ceil(settings.loginRecordRetentionMs / 1000) };
  return undefined;
}
