import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { v4 as uuidv4 } from 'uuid';
import { authorizationCodeDecider, issueCode, redeemCode } from '../../domain/authorization-code/decider.js';
import { authorizationCodeStream, type IssuedCode } from '../../domain/authorization-code/events.js';
import { refreshSession, revokeSession, sessionDecider, type SessionState, startSession } from '../../domain/session/decider.js';
import { type RevocationReason, type SessionEvent, sessionStream } from '../../domain/session/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import type { SigningKeys } from '../../infra/keys/signing-keys.js';
import { type EventStore, type GlobalPosition, WrongExpectedRevisionError } from '../../ports/event-store.js';
import { handleCommand, toNewEvent } from '../pipeline.js';

export const sha256Hex = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');
const randomToken = (): string => randomBytes(32).toString('base64url');

/** Why the token endpoint refuses a grant: each becomes an OAuth error body. */
export class GrantError extends Error {
  constructor(
    readonly code: 'invalid_grant' | 'invalid_scope' | 'unauthorized_client' | 'invalid_request',
    description: string,
  ) {
    super(description);
  }
}

export interface TokenSettings {
  readonly issuer: string;
  readonly accessTokenTtlSeconds: number;
  readonly idTokenTtlSeconds: number;
  readonly authorizationCodeTtlSeconds: number;
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
  scope: string;
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
  constructor(
    private readonly events: EventStore,
    private readonly keys: SigningKeys,
    private readonly settings: TokenSettings,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** The newest event of a session stream is its whole state. */
  private async loadSession(stream: string): Promise<{ state: SessionState; revision: number | undefined }> {
    const [last] = await this.events.readStream(stream, { direction: 'backwards', maxCount: 1 });
    if (!last) return { state: sessionDecider.initialState(), revision: undefined };
    return { state: sessionDecider.evolve(sessionDecider.initialState(), last as unknown as SessionEvent), revision: last.revision };
  }

  private async appendSession(stream: string, events: SessionEvent[], expected: number | undefined | 'any', meta: CommandMetadata) {
    return this.events.appendToStream(
      stream,
      events.map((event) => toNewEvent(event, meta)),
      { expectedRevision: expected === undefined ? 'no_stream' : expected },
    );
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
   * session. A second use of the code is refused and revokes the session
   * the first use started.
   */
  async exchangeCode(
    request: { client: TokenClient; code: string; redirectUri: string | undefined; codeVerifier: string | undefined; user: (userId: string) => Promise<UserClaims | undefined> },
    meta: CommandMetadata,
  ): Promise<{ response: TokenResponse; position: GlobalPosition }> {
    const codeSha256 = sha256Hex(request.code);
    const codeStream = authorizationCodeStream(codeSha256);
    const now = Math.floor(this.clock().getTime() / 1000);
    const sessionId = uuidv4();
    let issued: IssuedCode | undefined;
    let refusal: string | undefined;
    await handleCommand(
      this.events,
      codeStream,
      authorizationCodeDecider,
      (state) => {
        const decision = redeemCode(state, {
          clientId: request.client.clientId,
          redirectUri: request.redirectUri,
          now,
          sessionId,
          pkceVerified: (challenge) => request.codeVerifier !== undefined && pkceS256(request.codeVerifier) === challenge,
        });
        refusal = decision.refusal;
        if (state.status !== 'none') issued = state;
        return decision.events;
      },
      meta,
    );
    if (refusal === 'replayed' && issued) {
      // The code was stolen or replayed: end the session it created (RFC 6749 4.1.2).
      const replayedSessionId = (await this.readRedeemedSessionId(codeStream)) ?? '';
      await this.revoke(sessionStream(issued.clientId, issued.userId), 'authorization_code_replayed', meta, replayedSessionId);
    }
    if (refusal || !issued) throw new GrantError('invalid_grant', `the authorization code is not valid (${refusal ?? 'unknown_code'})`);

    const user = await request.user(issued.userId);
    if (!user) throw new GrantError('invalid_grant', 'the user no longer exists');
    const stream = sessionStream(issued.clientId, issued.userId);
    const { revision } = await this.loadSession(stream);
    const wantsRefresh = request.client.grantTypes.includes('refresh_token') && issued.scope.split(' ').includes('offline_access');
    const refreshSecret = wantsRefresh ? randomToken() : undefined;
    const nextRevision = revision === undefined ? 0 : revision + 1;
    const refreshToken = refreshSecret && encodeRefreshToken(stream, nextRevision, refreshSecret);
    const facts = {
      sessionId,
      clientId: issued.clientId,
      subjectId: issued.userId,
      subjectKind: 'user' as const,
      organizationId: issued.organizationId,
      scope: issued.scope,
      authTime: issued.authTime,
      refreshTokenSha256: refreshToken ? sha256Hex(refreshToken) : null,
    };
    let appended;
    try {
      appended = await this.appendSession(stream, startSession(facts), revision, meta);
    } catch (error) {
      if (error instanceof WrongExpectedRevisionError) throw new GrantError('invalid_grant', 'the session changed concurrently; sign in again');
      throw error;
    }
    // A replay that raced this redemption may have looked for the session before it existed.
    const codeHistory = await this.events.readStream(codeStream);
    if (codeHistory.some((event) => event.type === 'authorization_code.replayed')) {
      await this.revoke(stream, 'authorization_code_replayed', meta, sessionId);
      throw new GrantError('invalid_grant', 'the authorization code was used more than once');
    }
    const response = await this.mintTokens({ ...facts, refreshCount: 0 }, { user, nonce: issued.nonce, refreshToken });
    return { response, position: appended.position };
  }

  private async readRedeemedSessionId(codeStream: string): Promise<string | undefined> {
    const history = await this.events.readStream(codeStream);
    const redeemed = history.find((event) => event.type === 'authorization_code.redeemed');
    return (redeemed?.data as { sessionId?: string } | undefined)?.sessionId;
  }

  /** Rotate a refresh token: exactly one of any number of concurrent presentations succeeds. */
  async refresh(
    request: { client: TokenClient; refreshToken: string; scope?: string; user: (userId: string) => Promise<UserClaims | undefined> },
    meta: CommandMetadata,
  ): Promise<{ response: TokenResponse; position: GlobalPosition }> {
    const decoded = decodeRefreshToken(request.refreshToken);
    if (!decoded) throw new GrantError('invalid_grant', 'the refresh token is not valid');
    const { state, revision } = await this.loadSession(decoded.stream);
    if (revision === undefined) throw new GrantError('invalid_grant', 'the refresh token is not valid');

    // The event that handed this token out: it tells the generation and rotation it belongs to.
    const [issuing] = decoded.revision <= revision ? await this.events.readStream(decoded.stream, { fromRevision: decoded.revision, maxCount: 1 }) : [];
    const issuedBy = issuing?.data as { sessionId?: string; refreshCount?: number; refreshTokenSha256?: string | null } | undefined;
    const hashMatches = !!issuedBy?.refreshTokenSha256 && equalHex(issuedBy.refreshTokenSha256, sha256Hex(request.refreshToken));

    if (request.scope !== undefined && state.status === 'active') {
      const granted = new Set(state.scope.split(' '));
      if (!request.scope.split(' ').every((s) => granted.has(s))) throw new GrantError('invalid_scope', 'a refresh cannot widen the granted scope');
    }
    const nextToken = encodeRefreshToken(decoded.stream, revision + 1, randomToken());
    const decision = refreshSession(
      state,
      { sessionId: issuedBy?.sessionId ?? '', clientId: request.client.clientId, refreshCount: issuedBy?.refreshCount ?? -1, hashMatches },
      { refreshTokenSha256: sha256Hex(nextToken) },
    );
    let appended;
    if (decision.events.length > 0) {
      try {
        appended = await this.appendSession(decoded.stream, decision.events, revision, meta);
      } catch (error) {
        // Another presentation of the same token won the race: this one is refused,
        // and is not taken for reuse, since it was current when it was read.
        if (error instanceof WrongExpectedRevisionError) throw new GrantError('invalid_grant', 'the refresh token was already used');
        throw error;
      }
    }
    if (decision.refusal || !appended || state.status !== 'active') {
      const why = decision.refusal === 'not_current' ? 'the refresh token was already used; the session is revoked' : 'the refresh token is not valid';
      throw new GrantError('invalid_grant', why);
    }
    const user = state.subjectKind === 'user' ? await request.user(state.subjectId) : undefined;
    if (state.subjectKind === 'user' && !user) throw new GrantError('invalid_grant', 'the user no longer exists');
    const { status: _status, ...facts } = state;
    const response = await this.mintTokens(
      { ...facts, refreshCount: state.refreshCount + 1, scope: request.scope ?? state.scope },
      { user, refreshToken: nextToken },
    );
    return { response, position: appended.position };
  }

  /** Client credentials: the client's own single session; a new token supersedes the previous one. */
  async clientCredentials(client: TokenClient, scope: string, meta: CommandMetadata): Promise<{ response: TokenResponse; position: GlobalPosition }> {
    const stream = sessionStream(client.clientId, client.clientId);
    const facts = {
      sessionId: uuidv4(),
      clientId: client.clientId,
      subjectId: client.clientId,
      subjectKind: 'application' as const,
      organizationId: client.organizationId,
      scope,
      authTime: Math.floor(this.clock().getTime() / 1000),
      refreshTokenSha256: null,
    };
    // Starting a generation does not depend on the previous one: no read needed.
    const appended = await this.appendSession(stream, startSession(facts), 'any', meta);
    return { response: await this.mintTokens({ ...facts, refreshCount: 0 }, {}), position: appended.position };
  }

  /** End a session (RFC 7009 revocation, reuse, replay, removal). Idempotent. */
  async revoke(stream: string, reason: RevocationReason, meta: CommandMetadata, sessionId?: string): Promise<GlobalPosition | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const { state, revision } = await this.loadSession(stream);
      const events = revokeSession(state, reason, sessionId);
      if (events.length === 0) return undefined;
      try {
        return (await this.appendSession(stream, events, revision, meta)).position;
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
      }
    }
    return undefined;
  }

  /** Revoke by a token the client holds (RFC 7009): a refresh token or an access token of one of its sessions. */
  async revokeToken(token: string, clientId: string, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    const refresh = decodeRefreshToken(token);
    if (refresh) {
      const { state } = await this.loadSession(refresh.stream);
      if (state.status !== 'active' || state.clientId !== clientId) return undefined;
      const [issuing] = await this.events.readStream(refresh.stream, { fromRevision: refresh.revision, maxCount: 1 });
      const hash = (issuing?.data as { refreshTokenSha256?: string | null } | undefined)?.refreshTokenSha256;
      if (!hash || !equalHex(hash, sha256Hex(token))) return undefined;
      return this.revoke(refresh.stream, 'revoked_by_client', meta, state.sessionId);
    }
    const claims = await this.verifySignature(token);
    if (!claims || claims.client_id !== clientId) return undefined;
    return this.revoke(sessionStream(claims.client_id, claims.sub), 'revoked_by_client', meta, claims.sid);
  }

  /** Signature, type, issuer, audience and expiry of an access token; not whether its session is still current. */
  async verifySignature(token: string): Promise<AccessTokenClaims | undefined> {
    try {
      const payload = await this.keys.verify(token, { issuer: this.settings.issuer, audience: this.settings.issuer, typ: 'at+jwt' });
      const { sub, client_id, sid, scope, jti, exp, iat } = payload as Record<string, unknown>;
      if (typeof sub !== 'string' || typeof client_id !== 'string' || typeof sid !== 'string' || typeof jti !== 'string') return undefined;
      return { sub, client_id, sid, scope: typeof scope === 'string' ? scope : '', jti, exp: Number(exp), iat: Number(iat) };
    } catch {
      return undefined;
    }
  }

  private async mintTokens(
    session: { sessionId: string; clientId: string; subjectId: string; scope: string; authTime: number; organizationId: string; refreshCount: number },
    extra: { user?: UserClaims; nonce?: string; refreshToken?: string },
  ): Promise<TokenResponse> {
    const now = Math.floor(this.clock().getTime() / 1000);
    const { issuer, accessTokenTtlSeconds, idTokenTtlSeconds } = this.settings;
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
        scope: session.scope,
      },
      'at+jwt',
    );
    const scopes = new Set(session.scope.split(' '));
    const response: TokenResponse = { access_token: accessToken, token_type: 'Bearer', expires_in: accessTokenTtlSeconds, scope: session.scope };
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
