import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError } from '../shared/errors.js';
import type { AuthorizationCodeEvent, IssuedCode } from './events.js';

export type AuthorizationCodeState =
  | { readonly status: 'none' }
  | ({ readonly status: 'issued' } & IssuedCode)
  | ({ readonly status: 'redeemed'; readonly sessionId: string } & IssuedCode);

export const authorizationCodeDecider: Decider<AuthorizationCodeState, AuthorizationCodeEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve(state, event) {
    switch (event.type) {
      case 'authorization_code.issued':
        return { status: 'issued', ...event.data };
      case 'authorization_code.redeemed':
        return state.status === 'issued' ? { ...state, status: 'redeemed', sessionId: event.data.sessionId } : state;
      case 'authorization_code.replayed':
        return state;
      default:
        return assertNever(event);
    }
  },
};

/** A fresh code: its stream must be new (the code is 256 random bits, so it always is). */
export function issueCode(state: AuthorizationCodeState, code: IssuedCode): AuthorizationCodeEvent[] {
  if (state.status !== 'none') throw new ConflictError('authorization code already issued');
  return [{ type: 'authorization_code.issued', data: code }];
}

export type RedeemRefusal = 'unknown_code' | 'expired' | 'wrong_client' | 'wrong_redirect_uri' | 'pkce_failed' | 'replayed';

/**
 * Redeem a code for a new session. A second use is refused and recorded, and
 * the session the first use created is revoked by the caller (RFC 6749 4.1.2).
 */
export function redeemCode(
  state: AuthorizationCodeState,
  attempt: { clientId: string; redirectUri: string | undefined; pkceVerified: (challenge: string) => boolean; now: number; sessionId: string },
): { events: AuthorizationCodeEvent[]; refusal?: RedeemRefusal } {
  switch (state.status) {
    case 'none':
      return { events: [], refusal: 'unknown_code' };
    case 'redeemed':
      return { events: [{ type: 'authorization_code.replayed', data: { codeSha256: state.codeSha256, sessionId: state.sessionId } }], refusal: 'replayed' };
    case 'issued':
      if (attempt.clientId !== state.clientId) return { events: [], refusal: 'wrong_client' };
      if (attempt.now > state.expiresAt) return { events: [], refusal: 'expired' };
      if (attempt.redirectUri !== state.redirectUri) return { events: [], refusal: 'wrong_redirect_uri' };
      if (!attempt.pkceVerified(state.codeChallenge)) return { events: [], refusal: 'pkce_failed' };
      return { events: [{ type: 'authorization_code.redeemed', data: { codeSha256: state.codeSha256, sessionId: attempt.sessionId } }] };
    default:
      return assertNever(state);
  }
}
