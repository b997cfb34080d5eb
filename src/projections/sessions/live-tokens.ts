import type { AccessTokenClaims } from '../../commands/oauth/token-service.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { SessionDocument } from './projection.js';

/** The identity claims of the user a live token speaks for (as the user directory gave them). */
export interface LiveUser {
  readonly sub: string;
  readonly email: string;
  readonly name: string;
  readonly organizationId: string;
}

/**
 * What a bearer check found for a token: its verified claims, its current session and
 * what the session's subject is (the user while active; an application's name).
 */
export interface LiveTokenFacts {
  readonly claims: AccessTokenClaims;
  readonly session: SessionDocument;
  /** A user's session: the user, while active (undefined: suspended, pending or gone). */
  readonly user?: LiveUser;
  /** An application's own session (client credentials): its name, while it exists. */
  readonly applicationName?: string;
}

interface Entry {
  readonly facts: LiveTokenFacts;
  readonly tags: readonly string[];
}

/** How many tokens are remembered by default. */
export const LIVE_TOKENS_KEPT = 10_000;

const sessionTag = (stream: string) => `s:${stream}`;
const subjectTag = (id: string) => `u:${id}`;
const clientTag = (id: string) => `c:${id}`;
const organizationTag = (id: string) => `o:${id}`;

/**
 * The token read paths' memory (userinfo, introspection, bearer authentication on the
 * admin API): a bounded LRU of what a bearer check found for a token, keyed by the
 * token itself and kept until the token expires, so a token presented again costs
 * no signature verification, no read-model lookup and no hash (a Map hashes the
 * string natively, far cheaper than a SHA-256 of it). Only tokens whose signature
 * verified are kept, so every key is one of our own tokens (a bounded size), and
 * there are at most `capacity` of them.
 *
 * It is fed by the projection runner (`observe`), with every event right after the
 * read models applied it and before any writer waiting for that event is answered:
 * whatever could change a bearer check drops the entries it touches at once, so a
 * revocation, a new generation of a session, a user suspended, updated or deleted, an
 * application disabled, updated or deleted, an organization updated or deleted is
 * seen by the next request exactly as the read models see it.
 *
 * A check resolved from the read models while such an event was being applied could
 * hold what was true before it: `mark()` is taken before resolving, and `remember`
 * keeps nothing resolved across an invalidation.
 */
export class LiveTokens {
  private readonly entries = new Map<string, Entry>();
  private readonly tagged = new Map<string, Set<string>>();
  /** Bumped by every invalidation: a check resolved across one is not remembered. */
  private epoch = 0;

  constructor(
    private readonly capacity: number = LIVE_TOKENS_KEPT,
    private readonly clock: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** What was found for this token (the key is the token), while it has not expired and nothing invalidated it. */
  get(key: string): LiveTokenFacts | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.facts.claims.exp * 1000 <= this.clock()) {
      this.drop(key);
      return undefined;
    }
    // Least recently used goes first: a hit moves to the back.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.facts;
  }

  /** Taken before a check reads the read models; handed to `remember`. */
  mark(): number {
    return this.epoch;
  }

  /** Keep what a check found for this (verified) token, unless an invalidation came in since `mark`. */
  remember(token: string, facts: LiveTokenFacts, mark: number): void {
    if (mark !== this.epoch || this.capacity <= 0) return;
    // A copy: the token given may be a slice of the request's header or body, which keeping it would keep whole.
    const key = Buffer.from(token, 'utf16le').toString('utf16le');
    if (this.entries.has(key)) this.drop(key);
    while (this.entries.size >= this.capacity) this.drop(this.entries.keys().next().value!);
    const { session } = facts;
    const tags = [sessionTag(session._id), subjectTag(session.subjectId), clientTag(session.clientId), organizationTag(session.organizationId)];
    if (facts.user && facts.user.organizationId !== session.organizationId) tags.push(organizationTag(facts.user.organizationId));
    this.entries.set(key, { facts, tags });
    for (const tag of tags) {
      let keys = this.tagged.get(tag);
      if (!keys) this.tagged.set(tag, (keys = new Set()));
      keys.add(key);
    }
  }

  /** An event the read models just applied: forget every token whose check it could change. */
  observe = (event: RecordedEvent): void => {
    const { type } = event;
    const data = event.data as Record<string, unknown> | undefined;
    const id = (name: string): string | undefined => (typeof data?.[name] === 'string' ? (data[name] as string) : undefined);
    if (type.startsWith('session.')) {
      // A rotation continues the generation: its tokens stay good (unless the event names another generation).
      if (type === 'session.refreshed') return this.invalidate(sessionTag(event.streamName), id('sessionId'));
      return this.invalidate(sessionTag(event.streamName));
    }
    if (type.startsWith('user.')) {
      // Activity changes nothing a check answers; every other user event may (state, name, email, deletion, erasure).
      if (type === 'user.activity.recorded') return;
      const userId = id('userId');
      if (userId !== undefined) this.invalidate(subjectTag(userId));
      return;
    }
    if (type.startsWith('application.')) {
      const applicationId = id('applicationId');
      if (applicationId !== undefined) this.invalidate(clientTag(applicationId));
      return;
    }
    if (type === 'organization.deleted' || type === 'organization.updated') {
      const organizationId = id('organizationId');
      if (organizationId !== undefined) this.invalidate(organizationTag(organizationId));
    }
  };

  /** Forget everything (the read models were replaced). */
  clear(): void {
    this.epoch += 1;
    this.entries.clear();
    this.tagged.clear();
  }

  /** Drop the entries with this tag; with `keepSessionId`, those of that generation stay. */
  private invalidate(tag: string, keepSessionId?: string): void {
    if (keepSessionId === undefined) this.epoch += 1;
    const keys = this.tagged.get(tag);
    if (!keys) return;
    for (const key of [...keys]) {
      if (keepSessionId !== undefined && this.entries.get(key)?.facts.session.sessionId === keepSessionId) continue;
      if (keepSessionId !== undefined) this.epoch += 1;
      this.drop(key);
    }
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    for (const tag of entry.tags) {
      const keys = this.tagged.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.tagged.delete(tag);
    }
  }
}
