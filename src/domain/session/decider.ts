import { assertNever, type Decider } from '../shared/decider.js';
import type { RevocationReason, SessionEvent, SessionFacts } from './events.js';

export type SessionState =
  | { readonly status: 'none' }
  | ({ readonly status: 'active' } & SessionFacts)
  | ({ readonly status: 'revoked' } & SessionFacts);

export const sessionDecider: Decider<SessionState, SessionEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve(_state, event) {
    switch (event.type) {
      case 'session.started':
      case 'session.refreshed':
        return { status: 'active', ...event.data };
      case 'session.revoked': {
        const { reason: _reason, ...facts } = event.data;
        return { status: 'revoked', ...facts };
      }
      default:
        return assertNever(event);
    }
  },
};

/** Why a refresh was refused; the token endpoint answers invalid_grant for all of them. */
export type RefreshRefusal =
  | 'unknown_session'
  | 'session_ended'
  | 'superseded'
  | 'not_current'
  | 'rotated_concurrently'
  | 'wrong_client'
  | 'expired'
  /** The session's refresh tokens are bound to a certificate (RFC 8705 4) the request did not present. */
  | 'wrong_certificate';

/** How long a session's refresh tokens stay good: from its start (absolute) and from its last rotation (idle). */
export interface RefreshLifetimes {
  readonly absoluteMs: number;
  readonly idleMs: number;
}

/** Past its absolute lifetime (since the login that started the generation) or idle for too long (since the last rotation). */
export const refreshExpired = (state: SessionFacts, lastChangeAt: Date, now: Date, lifetimes: RefreshLifetimes): boolean =>
  now.getTime() >= state.authTime * 1000 + lifetimes.absoluteMs || now.getTime() >= lastChangeAt.getTime() + lifetimes.idleMs;

/** A new login: a new generation that supersedes whatever came before. */
export function startSession(facts: Omit<SessionFacts, 'refreshCount'>): SessionEvent[] {
  return [{ type: 'session.started', data: { ...facts, refreshCount: 0 } }];
}

/**
 * Rotate the refresh token. `presented` tells which generation and which
 * rotation the token came from and whether its hash matched the token recorded
 * then. A token from this generation that was already rotated away is reuse:
 * the session is revoked. One exception: the token rotated away just now
 * (within `reuseGraceMs` of the rotation, and its successor not used yet) is
 * refused without revoking, because that is what a client's own concurrent or
 * retried requests look like, and they must not end the session the winning
 * request just extended.
 */
export function refreshSession(
  state: SessionState,
  presented: { sessionId: string; clientId: string; refreshCount: number; hashMatches: boolean; certificateThumbprint?: string },
  next: { refreshTokenSha256: string | null },
  timing: { now: Date; lastChangeAt: Date; reuseGraceMs: number; lifetimes: RefreshLifetimes },
): { events: SessionEvent[]; refusal?: RefreshRefusal } {
  switch (state.status) {
    case 'none':
      return { events: [], refusal: 'unknown_session' };
    case 'revoked':
      return { events: [], refusal: 'session_ended' };
    case 'active': {
      if (presented.clientId !== state.clientId) return { events: [], refusal: 'wrong_client' };
      if (presented.sessionId !== state.sessionId || !presented.hashMatches) return { events: [], refusal: 'superseded' };
      // Without the certificate the token is bound to, the token is useless, not stolen-and-used: no revocation.
      if (state.certificateThumbprint !== undefined && presented.certificateThumbprint !== state.certificateThumbprint) {
        return { events: [], refusal: 'wrong_certificate' };
      }
      if (refreshExpired(state, timing.lastChangeAt, timing.now, timing.lifetimes)) return { events: [], refusal: 'expired' };
      if (presented.refreshCount < state.refreshCount) {
        const justRotated =
          presented.refreshCount === state.refreshCount - 1 && timing.now.getTime() - timing.lastChangeAt.getTime() < timing.reuseGraceMs;
        if (justRotated) return { events: [], refusal: 'rotated_concurrently' };
        return { events: revokeSession(state, 'refresh_token_reused'), refusal: 'not_current' };
      }
      const { status: _status, ...facts } = state;
      return {
        events: [{ type: 'session.refreshed', data: { ...facts, refreshCount: state.refreshCount + 1, refreshTokenSha256: next.refreshTokenSha256 } }],
      };
    }
    default:
      return assertNever(state);
  }
}

export function revokeSession(state: SessionState, reason: RevocationReason, sessionId?: string): SessionEvent[] {
  if (state.status !== 'active') return [];
  if (sessionId !== undefined && sessionId !== state.sessionId) return [];
  const { status: _status, ...facts } = state;
  return [{ type: 'session.revoked', data: { ...facts, reason } }];
}
