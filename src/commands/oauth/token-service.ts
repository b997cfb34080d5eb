import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { v4 as uuidv4 } from 'uuid';
import { type AuthorizationCodeState, authorizationCodeDecider, issueCode, redeemCode } from '../../domain/authorization-code/decider.js';
import { type AuthorizationCodeEvent, authorizationCodeStream, type IssuedCode } from '../../domain/authorization-code/events.js';
import { type RefreshLifetimes, refreshExpired, refreshSession, revokeSession, sessionDecider, type SessionState, startSession } from '../../domain/session/decider.js';
import { type RevocationReason, type SessionEvent, type SessionFacts, sessionStream } from '../../domain/session/events.js';
import { type UserEvent, userActivityStream } from '../../domain/user/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { ConcurrencyError } from '../../domain/shared/errors.js';
import type { SigningKeys } from '../../infra/keys/signing-keys.js';
import { type EventStore, type GlobalPosition, type RecordedEvent, WrongExpectedRevisionError } from '../../ports/event-store.js';
import { isKnownEventType } from '../../domain/events.js';
import { handleCommand, loadState, toNewEvent } from '../pipeline.js';

export const sha256Hex = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');
const randomToken = (): string => randomBytes(32).toString('base64url');

/** Why the token endpoint refuses a grant: each becomes an OAuth error body. */
export class GrantError extends Error {
  constructor(
    readonly code: 'invalid_grant' | 'invalid_scope',
    description: string,
    /** Where a revocation the refusal caused landed: the endpoint waits for it, so the session's tokens stop working before the answer. */
    readonly position?: GlobalPosition,
  ) {
    super(description);
  }
}

/** A refresh decided on what this instance remembered of a session that another writer has moved since. */
class StaleSession extends Error {}

export interface TokenSettings {
  readonly issuer: string;
  readonly accessTokenTtlSeconds: number;
  readonly idTokenTtlSeconds: number;
  readonly authorizationCodeTtlSeconds: number;
  /**
   * How long after a rotation the previous refresh token is refused without
   * revoking the session (see refreshSession); 0 (the default): never.
   */
  readonly refreshReuseGraceSeconds?: number;
  /** Refresh tokens end this long after the login that started their session (default 90 days)... */
  readonly refreshAbsoluteLifetimeSeconds?: number;
  /** ...or this long after their last rotation (default 30 days). */
  readonly refreshIdleLifetimeSeconds?: number;
  /**
   * Client credentials: a token asked for less than this long after the client's live
   * generation started joins that generation (same sid) instead of appending a new one
   * (default 3600); 0: every token starts a generation that supersedes the previous one.
   */
  readonly clientCredentialsSessionSeconds?: number;
}
const DAY_SECONDS = 86_400;
/** How many verified access tokens are remembered. */
const VERIFIED_TOKENS_KEPT = 10_000;
/** How many session streams' newest event this instance remembers (its own appends and reads). */
const SESSIONS_KEPT = 10_000;

/** A user's lastActive is approximate: at most one activity event per user per interval. */
export const ACTIVITY_INTERVAL_MS = 60_000;
/** How many attempts a write to a session stream gets when another writer keeps moving it (then a ConcurrencyError: the token endpoint's 503, try again). */
const SESSION_WRITE_ATTEMPTS = 5;

interface LoadedSession {
  readonly state: SessionState;
  readonly revision: number | undefined;
  readonly last: RecordedEvent | undefined;
}

export interface TokenClient {
  readonly clientId: string;
  readonly organizationId: string;
  readonly grantTypes: readonly string[];
}

/** The identity claims the ID token and userinfo carry for a user. */
export interface UserClaims {
  readonly sub: string;
  readonly email?: string;
  readonly name?: string;
  readonly organizationId: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
}

export interface AccessTokenClaims {
  readonly sub: string;
  readonly client_id: string;
  readonly sid: string;
  readonly scope: string;
  readonly jti: string;
  readonly exp: number;
  readonly iat: number;
  /** RFC 8705 3.1: the token is bound to the client certificate with this SHA-256 thumbprint (base64url of the DER's digest). */
  readonly cnf?: { readonly 'x5t#S256': string };
}

/**
 * A refresh token names its session stream and the revision of the event that
 * handed it out, so a refresh reads exactly two events whatever the session's
 * age: the newest (the state) and, for an old token, the one that issued it.
 */
const REFRESH_PREFIX = 'rt1';
const encodeRefreshToken = (stream: string, revision: number, secret: string) =>
  `${REFRESH_PREFIX}.${Buffer.from(stream).toString('base64url')}.${revision}.${secret}`;

function decodeRefreshToken(token: string): { stream: string; revision: number } | undefined {
  const [prefix, stream, revision, secret, ...rest] = token.split('.');
  if (prefix !== REFRESH_PREFIX || !stream || !revision || !secret || rest.length > 0 || !/^\d{1,15}$/.test(revision)) return undefined;
  const name = Buffer.from(stream, 'base64url').toString('utf8');
  return name.startsWith('session-') ? { stream: name, revision: Number(revision) } : undefined;
}

const equalHex = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));

const atHash = (accessToken: string): string =>
  createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');

/** PKCE S256: BASE64URL(SHA256(verifier)) equals the challenge. */
export const pkceS256 = (verifier: string): string => createHash('sha256').update(verifier, 'ascii').digest('base64url');

/**
 * The token service. Session state is read from each session's event stream
 * and every change is appended with the expected revision, so a refresh token
 * rotates exactly once however many instances race, and a new login
 * supersedes the previous session of the same client and user.
 */
export class TokenService {
  /** Access tokens whose signature was verified, oldest first. */
  private readonly verified = new Map<string, AccessTokenClaims>();

  /**
   * The newest event of session streams as this instance last appended or read it: a refresh
   * presenting the newest token, and a client-credentials token joining its live generation,
   * read nothing from the store. Never trusted alone: a refresh's append still expects the
   * revision (another instance's write makes it fail, and the refresh starts over from the
   * store), and a client-credentials join is checked against the sessions read model.
   */
  private readonly newest = new Map<string, LoadedSession>();

  /** When each user's activity was last recorded by this instance: the throttle of lastActive. */
  private readonly lastActivity = new Map<string, number>();

  constructor(
    private readonly events: EventStore,
    private readonly keys: SigningKeys,
    private readonly settings: TokenSettings,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * The newest event of a session stream is its whole state. An event this
   * version cannot read (a newer instance's, during a rolling deploy) is passed
   * over, as every fold does: the newest readable one of the last few stands,
   * and the append still expects the stream's true revision.
   */
  private async loadSession(stream: string): Promise<LoadedSession> {
    const newest = await this.events.readStream(stream, { direction: 'backwards', maxCount: 8 });
    const last = newest.find((event) => isKnownEventType(event.type));
    const revision = newest[0]?.revision;
    if (!last) return { state: sessionDecider.initialState(), revision, last: undefined };
    const loaded = { state: sessionDecider.evolve(sessionDecider.initialState(), last as unknown as SessionEvent), revision, last };
    if (last.revision === revision) this.remember(stream, loaded);
    return loaded;
  }

  /** The session as this instance last saw it, if its newest event has this revision; else from the store. */
  private async loadSessionAt(stream: string, revision: number): Promise<LoadedSession & { remembered: boolean }> {
    const known = this.newest.get(stream);
    if (known && known.revision === revision) return { ...known, remembered: true };
    return { ...(await this.loadSession(stream)), remembered: false };
  }

  private remember(stream: string, loaded: LoadedSession): void {
    this.newest.delete(stream);
    if (this.newest.size >= SESSIONS_KEPT) this.newest.delete(this.newest.keys().next().value!);
    this.newest.set(stream, loaded);
  }

  private async appendSession(stream: string, events: SessionEvent[], expected: number | undefined | 'any', meta: CommandMetadata) {
    const appending = events.map((event) => toNewEvent(event, meta));
    try {
      const appended = await this.events.appendToStream(stream, appending, { expectedRevision: expected === undefined ? 'no_stream' : expected });
      // What was just written is the stream's newest event: the next refresh of this session reads nothing.
      const last: RecordedEvent = { ...appending[appending.length - 1]!, streamName: stream, revision: appended.nextExpectedRevision, position: appended.position };
      this.remember(stream, { state: sessionDecider.evolve(sessionDecider.initialState(), last as unknown as SessionEvent), revision: last.revision, last });
      return appended;
    } catch (error) {
      this.newest.delete(stream);
      throw error;
    }
  }

  /** Hand out a single-use code after a successful login. */
  async issueAuthorizationCode(
    grant: Omit<IssuedCode, 'codeSha256' | 'expiresAt'>,
    meta: CommandMetadata,
  ): Promise<{ code: string; position: GlobalPosition | undefined }> {
    const code = randomToken();
    const codeSha256 = sha256Hex(code);
    const expiresAt = Math.floor(this.clock().getTime() / 1000) + this.settings.authorizationCodeTtlSeconds;
    const result = await handleCommand(
      this.events,
      authorizationCodeStream(codeSha256),
      authorizationCodeDecider,
      (state) => issueCode(state, { ...grant, codeSha256, expiresAt }),
      meta,
    );
    return { code, position: result.position };
  }

  /**
   * Exchange a code for tokens: a new generation of the (client, user)
   * session. The code's stream is appended with the revision that was read,
   * so of any number of concurrent redemptions exactly one wins; every other
   * use is a replay, which is refused and revokes the session the winner
   * started (RFC 6749 4.1.2).
   */
  async exchangeCode(
    request: {
      client: TokenClient;
      code: string;
      redirectUri: string | undefined;
      codeVerifier: string | undefined;
      user: (userId: string) => Promise<UserClaims | undefined>;
      /** The client authenticated with, or (a public client) presented, this certificate (RFC 8705): the access token is bound to it... */
      certificateThumbprint?: string;
      /** ...and, for a public client (RFC 8705 4), the session's refresh tokens as well. */
      bindRefreshTokens?: boolean;
    },
    meta: CommandMetadata,
  ): Promise<{ response: TokenResponse; position: GlobalPosition }> {
    const codeStream = authorizationCodeStream(sha256Hex(request.code));
    const sessionId = uuidv4();
    const attempt = {
      clientId: request.client.clientId,
      redirectUri: request.redirectUri,
      now: Math.floor(this.clock().getTime() / 1000),
      sessionId,
      pkceVerified: (challenge: string) => request.codeVerifier !== undefined && pkceS256(request.codeVerifier) === challenge,
    };
    const { state: code, revision: codeRevision } = await loadState(this.events, codeStream, authorizationCodeDecider);
    const decision = redeemCode(code, attempt);
    if (decision.refusal === 'replayed' && code.status === 'redeemed') throw await this.replayed(code, decision.events, meta);
    if (decision.refusal || code.status !== 'issued') throw new GrantError('invalid_grant', `the authorization code is not valid (${decision.refusal ?? 'unknown_code'})`);
    try {
      await this.events.appendToStream(codeStream, decision.events.map((event) => toNewEvent(event, meta)), { expectedRevision: codeRevision! });
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      // Another request redeemed the code between our read and our write: this one is the second use.
      const { state: current } = await loadState(this.events, codeStream, authorizationCodeDecider);
      const second = redeemCode(current, attempt);
      if (second.refusal === 'replayed' && current.status === 'redeemed') throw await this.replayed(current, second.events, meta);
      throw new GrantError('invalid_grant', 'the authorization code is not valid');
    }

    const user = await request.user(code.userId);
    if (!user) throw new GrantError('invalid_grant', 'the user no longer exists or is suspended');
    const stream = sessionStream(code.clientId, code.userId);
    const wantsRefresh = request.client.grantTypes.includes('refresh_token') && code.scope.split(' ').includes('offline_access');
    const facts = {
      sessionId,
      clientId: code.clientId,
      subjectId: code.userId,
      subjectKind: 'user' as const,
      organizationId: code.organizationId,
      scope: code.scope,
      authTime: code.authTime,
      ...(request.bindRefreshTokens && request.certificateThumbprint !== undefined && { certificateThumbprint: request.certificateThumbprint }),
    };
    const started = await this.startGeneration(stream, facts, wantsRefresh, meta);

    // A replay that raced this redemption may have looked for the session
    // before it existed: whoever comes second sees the other and revokes.
    // The tokens are answered all the same (this request did win the code);
    // they stop working with the revocation.
    const codeHistory = await this.events.readStream(codeStream);
    const revoked = codeHistory.some((event) => event.type === 'authorization_code.replayed')
      ? await this.revoke(stream, 'authorization_code_replayed', meta, sessionId)
      : undefined;
    const response = await this.mintTokens(
      { ...facts, refreshCount: 0 },
      { user, nonce: code.nonce, refreshToken: started.refreshToken, certificateThumbprint: request.certificateThumbprint },
    );
    return { response, position: revoked ?? started.position };
  }

  /**
   * Append a new generation of a session. The refresh token names the
   * revision of the event that hands it out, so the append expects the
   * revision that was read, and tries again if another login got in between.
   */
  private async startGeneration(
    stream: string,
    facts: Omit<SessionFacts, 'refreshCount' | 'refreshTokenSha256'>,
    withRefreshToken: boolean,
    meta: CommandMetadata,
  ): Promise<{ refreshToken: string | undefined; position: GlobalPosition }> {
    for (let attempt = 1; ; attempt++) {
      const { revision } = await this.loadSession(stream);
      const refreshToken = withRefreshToken ? encodeRefreshToken(stream, revision === undefined ? 0 : revision + 1, randomToken()) : undefined;
      try {
        const appended = await this.appendSession(stream, startSession({ ...facts, refreshTokenSha256: refreshToken ? sha256Hex(refreshToken) : null }), revision, meta);
        return { refreshToken, position: appended.position };
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        if (attempt >= SESSION_WRITE_ATTEMPTS) throw new ConcurrencyError(`${stream} changed concurrently ${attempt} times; try again`);
      }
    }
  }

  /** A second use of a code: record it, revoke the session its first use started, and answer the refusal. */
  private async replayed(
    code: Extract<AuthorizationCodeState, { status: 'redeemed' }>,
    events: AuthorizationCodeEvent[],
    meta: CommandMetadata,
  ): Promise<GrantError> {
    // The mark needs no order against other marks: append whatever the stream's revision.
    await this.events.appendToStream(authorizationCodeStream(code.codeSha256), events.map((event) => toNewEvent(event, meta)), { expectedRevision: 'any' });
    const position = await this.revoke(sessionStream(code.clientId, code.userId), 'authorization_code_replayed', meta, code.sessionId);
    return new GrantError('invalid_grant', 'the authorization code was already used; the session it started is revoked', position);
  }

  /**
   * Rotate a refresh token: exactly one of any number of concurrent
   * presentations succeeds (the append expects the revision that was read).
   */
  async refresh(
    request: {
      client: TokenClient;
      refreshToken: string;
      scope?: string;
      user: (userId: string) => Promise<UserClaims | undefined>;
      /**
       * The certificate the client authenticated with, or (a public client) presented (RFC 8705): a session
       * bound to a certificate needs that one; the new access token is bound to it.
       */
      certificateThumbprint?: string;
    },
    meta: CommandMetadata,
  ): Promise<{ response: TokenResponse; position: GlobalPosition }> {
    try {
      return await this.rotate(request, meta, true);
    } catch (error) {
      // Another instance wrote the session since this one last saw it: decide again from the store.
      if (error instanceof StaleSession) return this.rotate(request, meta, false);
      throw error;
    }
  }

  private async rotate(
    request: Parameters<TokenService['refresh']>[0],
    meta: CommandMetadata,
    fromMemory: boolean,
  ): Promise<{ response: TokenResponse; position: GlobalPosition }> {
    const decoded = decodeRefreshToken(request.refreshToken);
    if (!decoded) throw new GrantError('invalid_grant', 'the refresh token is not valid');
    const { state, revision, last, remembered } = fromMemory
      ? await this.loadSessionAt(decoded.stream, decoded.revision)
      : { ...(await this.loadSession(decoded.stream)), remembered: false };
    if (revision === undefined || !last) throw new GrantError('invalid_grant', 'the refresh token is not valid');

    // The event that handed this token out: it tells the generation and rotation it belongs to.
    // Retention removes it only once its generation has ended (docs/retention.md): then there is
    // none (reads skip tombstones, so the next event must not stand in for it) and the token is refused.
    const issuing =
      decoded.revision === last.revision
        ? last
        : decoded.revision < revision
          ? (await this.events.readStream(decoded.stream, { fromRevision: decoded.revision, maxCount: 1 })).find((event) => event.revision === decoded.revision)
          : undefined;
    const issuedBy = issuing?.data as { sessionId?: string; refreshCount?: number; refreshTokenSha256?: string | null } | undefined;
    const hashMatches = !!issuedBy?.refreshTokenSha256 && equalHex(issuedBy.refreshTokenSha256, sha256Hex(request.refreshToken));

    const nextToken = encodeRefreshToken(decoded.stream, revision + 1, randomToken());
    const decision = refreshSession(
      state,
      {
        sessionId: issuedBy?.sessionId ?? '',
        clientId: request.client.clientId,
        refreshCount: issuedBy?.refreshCount ?? -1,
        hashMatches,
        ...(request.certificateThumbprint !== undefined && { certificateThumbprint: request.certificateThumbprint }),
      },
      { refreshTokenSha256: sha256Hex(nextToken) },
      { now: this.clock(), lastChangeAt: new Date(last.metadata.occurredAt), reuseGraceMs: this.reuseGraceMs, lifetimes: this.lifetimes },
    );
    // A refusal is decided on the store itself, never on what this instance remembered.
    if (decision.refusal && remembered) throw new StaleSession();
    if (decision.refusal) {
      const position = decision.events.length > 0 ? await this.appendRevocation(decoded.stream, decision.events, revision, meta) : undefined;
      const why =
        decision.refusal === 'not_current'
          ? 'the refresh token was already used; the session is revoked'
          : decision.refusal === 'rotated_concurrently'
            ? 'the refresh token was already used'
            : decision.refusal === 'expired'
              ? 'the refresh token has expired; sign in again'
              : decision.refusal === 'wrong_certificate'
                ? 'the refresh token is bound to a client certificate this request did not present'
                : 'the refresh token is not valid';
      throw new GrantError('invalid_grant', why, position);
    }
    if (state.status !== 'active') throw new GrantError('invalid_grant', 'the refresh token is not valid');

    // Checked before the rotation is written, so a refusal does not use up the token.
    const asked = request.scope?.split(' ').filter(Boolean);
    if (asked !== undefined) {
      const granted = new Set(state.scope.split(' '));
      if (!asked.every((s) => granted.has(s))) throw new GrantError('invalid_scope', 'a refresh cannot widen the granted scope');
    }
    const user = state.subjectKind === 'user' ? await request.user(state.subjectId) : undefined;
    if (state.subjectKind === 'user' && !user) throw new GrantError('invalid_grant', 'the user no longer exists or is suspended');

    const { status: _status, ...facts } = state;
    // The tokens are signed while the append is made durable (the signatures run off the main thread),
    // and handed out only once it is: a failed append throws them away.
    const minting = this.mintTokens(
      // A narrower scope applies to these tokens only; the session keeps what was granted (RFC 6749 6).
      { ...facts, refreshCount: state.refreshCount + 1, scope: asked && asked.length > 0 ? [...new Set(asked)].join(' ') : state.scope },
      { user, refreshToken: nextToken, certificateThumbprint: state.certificateThumbprint ?? request.certificateThumbprint },
    );
    let appended;
    try {
      [appended] = await Promise.all([this.appendSession(decoded.stream, decision.events, revision, meta), minting]);
    } catch (error) {
      if (error instanceof WrongExpectedRevisionError && remembered) throw new StaleSession();
      // Another presentation of the same token won the race: this one is refused,
      // and is not taken for reuse, since it was current when it was read.
      if (error instanceof WrongExpectedRevisionError) throw new GrantError('invalid_grant', 'the refresh token was already used');
      throw error;
    }
    return { response: await minting, position: appended.position };
  }

  private get lifetimes(): RefreshLifetimes {
    return {
      absoluteMs: (this.settings.refreshAbsoluteLifetimeSeconds ?? 90 * DAY_SECONDS) * 1000,
      idleMs: (this.settings.refreshIdleLifetimeSeconds ?? 30 * DAY_SECONDS) * 1000,
    };
  }

  private get reuseGraceMs(): number {
    return (this.settings.refreshReuseGraceSeconds ?? 0) * 1000;
  }

  /** A reuse revocation decided on the revision read; if the stream moved meanwhile, revoke whatever is current of that generation. */
  private async appendRevocation(stream: string, events: SessionEvent[], revision: number, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    try {
      return (await this.appendSession(stream, events, revision, meta)).position;
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      const sessionId = events[0]?.data.sessionId;
      return this.revoke(stream, 'refresh_token_reused', meta, sessionId);
    }
  }

  /**
   * Client credentials: the client's own single session. A token asked for while the
   * client's current generation is live, has the same scope and started less than
   * `clientCredentialsSessionSeconds` ago joins it (same sid, nothing appended), so token
   * traffic does not grow the log; otherwise a new generation supersedes the previous one.
   * Revoking the session (by a token, disabling or deleting the client) ends every token of
   * the generation, and the next request starts a new one.
   * A client that authenticated with a certificate gets a token bound to it (RFC 8705 3):
   * the binding is the access token's own (its cnf), whatever generation it joins.
   */
  async clientCredentials(
    client: TokenClient,
    scope: string,
    meta: CommandMetadata,
    certificateThumbprint?: string,
    /**
     * Whether this generation of the client's session is the current one in the sessions read model
     * (what bearer checks consult): with it, a token joining the generation this instance remembers
     * reads nothing from the store.
     */
    isCurrent?: (sessionId: string) => Promise<boolean>,
  ): Promise<{ response: TokenResponse; position: GlobalPosition }> {
    const stream = sessionStream(client.clientId, client.clientId);
    const now = Math.floor(this.clock().getTime() / 1000);
    const windowSeconds = this.settings.clientCredentialsSessionSeconds ?? 3600;
    if (windowSeconds > 0) {
      const known = this.newest.get(stream);
      const trusted = known && known.state.status === 'active' && isCurrent !== undefined && (await isCurrent(known.state.sessionId));
      const { state, last } = trusted ? known : await this.loadSession(stream);
      const joins =
        state.status === 'active' &&
        last !== undefined &&
        state.subjectKind === 'application' &&
        state.organizationId === client.organizationId &&
        state.scope === scope &&
        now >= state.authTime &&
        now - state.authTime < windowSeconds;
      if (joins) {
        const { status: _status, ...facts } = state;
        return { response: await this.mintTokens(facts, { certificateThumbprint }), position: last.position };
      }
    }
    const facts = {
      sessionId: uuidv4(),
      clientId: client.clientId,
      subjectId: client.clientId,
      subjectKind: 'application' as const,
      organizationId: client.organizationId,
      scope,
      authTime: now,
      refreshTokenSha256: null,
    };
    // Starting a generation does not depend on the previous one, and hands out no refresh token: no expected revision.
    // Signed while the append is made durable; handed out only once it is.
    const [appended, response] = await Promise.all([
      this.appendSession(stream, startSession(facts), 'any', meta),
      this.mintTokens({ ...facts, refreshCount: 0 }, { certificateThumbprint }),
    ]);
    return { response, position: appended.position };
  }

  /** End a session (RFC 7009 revocation, reuse, replay, removal). Idempotent. */
  async revoke(stream: string, reason: RevocationReason, meta: CommandMetadata, sessionId?: string): Promise<GlobalPosition | undefined> {
    for (let attempt = 1; ; attempt++) {
      const { state, revision } = await this.loadSession(stream);
      const events = revokeSession(state, reason, sessionId);
      if (events.length === 0) return undefined;
      try {
        return (await this.appendSession(stream, events, revision, meta)).position;
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        if (attempt >= SESSION_WRITE_ATTEMPTS) throw new ConcurrencyError(`${stream} changed concurrently ${attempt} times; try again`);
      }
    }
  }

  /** The session a refresh token belongs to, if it is the current token of a live session of this client. */
  private async currentRefreshToken(token: string, clientId: string): Promise<(SessionState & { status: 'active' }) | undefined> {
    const decoded = decodeRefreshToken(token);
    if (!decoded) return undefined;
    const { state, revision, last } = await this.loadSession(decoded.stream);
    // Only the newest event's token is current: older ones were rotated away or superseded.
    if (state.status !== 'active' || state.clientId !== clientId || revision !== decoded.revision || !last) return undefined;
    if (refreshExpired(state, new Date(last.metadata.occurredAt), this.clock(), this.lifetimes)) return undefined;
    const hash = (last.data as { refreshTokenSha256?: string | null }).refreshTokenSha256;
    return hash && equalHex(hash, sha256Hex(token)) ? state : undefined;
  }

  /** Revoke by a token the client holds (RFC 7009): a refresh token or an access token of one of its sessions. */
  async revokeToken(token: string, clientId: string, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    const decoded = decodeRefreshToken(token);
    if (decoded) {
      const session = await this.currentRefreshToken(token, clientId);
      return session && this.revoke(decoded.stream, 'revoked_by_client', meta, session.sessionId);
    }
    const claims = await this.verifySignature(token);
    if (!claims || claims.client_id !== clientId) return undefined;
    return this.revoke(sessionStream(claims.client_id, claims.sub), 'revoked_by_client', meta, claims.sid);
  }

  /** What introspection says of a refresh token (RFC 7662): its session's facts while it is the current token of this client. */
  async introspectRefreshToken(token: string, clientId: string): Promise<{ sub: string; client_id: string; sid: string; scope: string; organizationId: string } | undefined> {
    const session = await this.currentRefreshToken(token, clientId);
    return session && { sub: session.subjectId, client_id: session.clientId, sid: session.sessionId, scope: session.scope, organizationId: session.organizationId };
  }

  /**
   * Record that a user acted (a login, a bearer call), feeding the user's
   * status.lastActive. At most once per ACTIVITY_INTERVAL_MS per user and
   * instance: lastActive is approximate, and a busy user must not write an
   * event per request. Appended with 'any': it decides nothing, so it need
   * not wait for the user's other writers.
   */
  async recordActivity(user: { userId: string; organizationId: string; subject: string }, meta?: CommandMetadata): Promise<GlobalPosition | undefined> {
    const now = meta?.now ?? this.clock();
    if (this.activityThrottled(user.userId, now.getTime())) return undefined;
    this.lastActivity.set(user.userId, now.getTime());
    if (this.lastActivity.size > 10_000) this.forgetOldActivity(now.getTime());
    const correlationId = uuidv4();
    const event: UserEvent = { type: 'user.activity.recorded', data: { userId: user.userId, organizationId: user.organizationId, at: now.toISOString() } };
    try {
      const appended = await this.events.appendToStream(
        userActivityStream(user.userId),
        [toNewEvent(event, meta ?? { now, actor: { subject: user.subject, kind: 'user', id: user.userId }, correlationId, causationId: correlationId })],
        { expectedRevision: 'any' },
      );
      return appended.position;
    } catch (error) {
      this.lastActivity.delete(user.userId); // not recorded: let the next request try again
      throw error;
    }
  }

  /**
   * Whether recordActivity would record nothing for this user now (it did less than
   * ACTIVITY_INTERVAL_MS ago): the token read paths skip the call, and its promise.
   */
  activityThrottled(userId: string, now: number = this.clock().getTime()): boolean {
    const last = this.lastActivity.get(userId);
    return last !== undefined && now - last < ACTIVITY_INTERVAL_MS;
  }

  /** Keep the throttle's memory bounded: entries older than the interval no longer throttle anything. */
  private forgetOldActivity(now: number): void {
    for (const [userId, at] of this.lastActivity) if (now - at >= ACTIVITY_INTERVAL_MS) this.lastActivity.delete(userId);
  }

  /** Signature, type, issuer, audience and expiry of an access token; not whether its session is still current. */
  async verifySignature(token: string): Promise<AccessTokenClaims | undefined> {
    // A signature checked once stays good until the token expires: remember the claims, so a
    // client calling the API with the same token pays for the ES256 verification once. Whether
    // its session is still current is checked on every request by the callers.
    const known = this.verified.get(token);
    if (known) {
      if (known.exp * 1000 > this.clock().getTime()) return known;
      this.verified.delete(token);
    }
    try {
      const payload = await this.keys.verify(token, { issuer: this.settings.issuer, audience: this.settings.issuer, typ: 'at+jwt' });
      const { sub, client_id, sid, scope, jti, exp, iat, cnf } = payload as Record<string, unknown>;
      if (typeof sub !== 'string' || typeof client_id !== 'string' || typeof sid !== 'string' || typeof jti !== 'string') return undefined;
      // A confirmation we do not understand would be a binding we could not enforce: such a token is no token.
      const thumbprint = cnf === undefined ? undefined : (cnf as Record<string, unknown> | null)?.['x5t#S256'];
      if (cnf !== undefined && (typeof thumbprint !== 'string' || Object.keys(cnf as object).length !== 1)) return undefined;
      const claims: AccessTokenClaims = {
        sub,
        client_id,
        sid,
        scope: typeof scope === 'string' ? scope : '',
        jti,
        exp: Number(exp),
        iat: Number(iat),
        ...(typeof thumbprint === 'string' && { cnf: { 'x5t#S256': thumbprint } }),
      };
      if (this.verified.size >= VERIFIED_TOKENS_KEPT) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, claims);
      return claims;
    } catch {
      return undefined;
    }
  }

  private async mintTokens(
    session: { sessionId: string; clientId: string; subjectId: string; scope: string; authTime: number; organizationId: string; refreshCount: number },
    extra: { user?: UserClaims; nonce?: string; refreshToken?: string; certificateThumbprint?: string | undefined },
  ): Promise<TokenResponse> {
    const now = Math.floor(this.clock().getTime() / 1000);
    const { issuer, accessTokenTtlSeconds, idTokenTtlSeconds } = this.settings;
    // RFC 9068: scope is optional; a client-credentials token has none (its roles come from its groups).
    const scope = session.scope === '' ? undefined : session.scope;
    const accessToken = await this.keys.sign(
      {
        iss: issuer,
        sub: session.subjectId,
        aud: issuer,
        iat: now,
        exp: now + accessTokenTtlSeconds,
        jti: uuidv4(),
        client_id: session.clientId,
        sid: session.sessionId,
        ...(scope !== undefined && { scope }),
        ...(extra.certificateThumbprint !== undefined && { cnf: { 'x5t#S256': extra.certificateThumbprint } }),
      },
      'at+jwt',
    );
    const scopes = new Set(session.scope.split(' '));
    const response: TokenResponse = { access_token: accessToken, token_type: 'Bearer', expires_in: accessTokenTtlSeconds, ...(scope !== undefined && { scope }) };
    if (extra.refreshToken) response.refresh_token = extra.refreshToken;
    if (extra.user && scopes.has('openid')) {
      response.id_token = await this.keys.sign(
        {
          iss: issuer,
          sub: session.subjectId,
          aud: session.clientId,
          azp: session.clientId,
          iat: now,
          exp: now + idTokenTtlSeconds,
          auth_time: session.authTime,
          sid: session.sessionId,
          at_hash: atHash(accessToken),
          ...(extra.nonce !== undefined && { nonce: extra.nonce }),
          ...(scopes.has('email') && extra.user.email !== undefined && { email: extra.user.email, email_verified: false }),
          ...(scopes.has('profile') && extra.user.name !== undefined && { name: extra.user.name, preferred_username: extra.user.email }),
        },
        'JWT',
      );
    }
    return response;
  }
}
