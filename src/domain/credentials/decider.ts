import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError } from '../shared/errors.js';
import type { CredentialEvent } from './events.js';

export type CredentialState =
  | { readonly status: 'none'; readonly failures: number; readonly lockedUntil?: string }
  | {
      readonly status: 'set';
      readonly passwordHash: string;
      readonly temporary: boolean;
      readonly failures: number;
      readonly lockedUntil?: string;
    };

export interface LockoutPolicy {
  readonly maxFailures: number;
  readonly lockMinutes: number;
}

export const credentialDecider: Decider<CredentialState, CredentialEvent> = {
  initialState: () => ({ status: 'none', failures: 0 }),
  evolve(state, event) {
    switch (event.type) {
      case 'user.password.changed':
        return { status: 'set', passwordHash: event.data.passwordHash, temporary: event.data.temporary, failures: 0 };
      case 'user.login.failed':
        return { ...state, failures: event.data.consecutiveFailures };
      case 'user.login.succeeded':
        return { ...state, failures: 0, lockedUntil: undefined };
      case 'user.locked':
        return { ...state, failures: 0, lockedUntil: event.data.until };
      default:
        return assertNever(event);
    }
  },
};

export const isLocked = (state: CredentialState, now: Date): boolean =>
  state.lockedUntil !== undefined && Date.parse(state.lockedUntil) > now.getTime();

export function changePassword(
  user: { userId: string; organizationId: string },
  passwordHash: string,
  temporary: boolean,
  keepSessionId?: string,
): CredentialEvent[] {
  return [{ type: 'user.password.changed', data: { ...user, passwordHash, temporary, ...(keepSessionId !== undefined && { keepSessionId }) } }];
}

/**
 * After an administrator's reset, the user replaces the temporary password.
 * Once only: the page that asks for it must not be replayed to change the
 * password again without knowing the current one.
 */
export function replaceTemporaryPassword(state: CredentialState, user: { userId: string; organizationId: string }, passwordHash: string): CredentialEvent[] {
  if (state.status !== 'set' || !state.temporary) throw new ConflictError('there is no temporary password to replace');
  return changePassword(user, passwordHash, false);
}

/** A failed login; the one that reaches the limit locks the account for a while. */
export function recordLoginFailure(
  state: CredentialState,
  user: { userId: string; organizationId: string },
  policy: LockoutPolicy,
  now: Date,
): CredentialEvent[] {
  const consecutiveFailures = state.failures + 1;
  const failed: CredentialEvent = { type: 'user.login.failed', data: { ...user, consecutiveFailures } };
  if (consecutiveFailures < policy.maxFailures) return [failed];
  const until = new Date(now.getTime() + policy.lockMinutes * 60_000).toISOString();
  return [failed, { type: 'user.locked', data: { ...user, until } }];
}

export function recordLoginSuccess(state: CredentialState, user: { userId: string; organizationId: string }): CredentialEvent[] {
  return state.failures > 0 || state.lockedUntil !== undefined ? [{ type: 'user.login.succeeded', data: user }] : [];
}
