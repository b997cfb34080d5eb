import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError } from '../shared/errors.js';
import type { CredentialEvent } from './events.js';
import { MAX_REUSE_DISALLOW_LIMIT } from './password-policy.js';

/**
 * `recent`: the hashes of the user's latest own passwords (set without
 * `temporary`), newest first, the current one included: at most
 * MAX_REUSE_DISALLOW_LIMIT, so a password change costs the same however long
 * the history (reuse_disallow_limit, docs/password-policy.md).
 */
export type CredentialState =
  | { readonly status: 'none'; readonly recent: readonly string[] }
  | { readonly status: 'set'; readonly passwordHash: string; readonly temporary: boolean; readonly recent: readonly string[] };

export const credentialDecider: Decider<CredentialState, CredentialEvent> = {
  initialState: () => ({ status: 'none', recent: [] }),
  evolve(state, event) {
    switch (event.type) {
      case 'user.password.changed': {
        const { passwordHash, temporary } = event.data;
        // A temporary password (an administrator's reset) is nobody's choice: it takes no place in the history.
        const recent = temporary ? state.recent : [passwordHash, ...state.recent.slice(0, MAX_REUSE_DISALLOW_LIMIT - 1)];
        return { status: 'set', passwordHash, temporary, recent };
      }
      // Written before failures moved to memory (progressive delays, src/api/auth/login-throttle.ts):
      // they are history now and change nothing, so an old lock does not outlive the upgrade.
      case 'user.login.failed':
      case 'user.login.succeeded':
      case 'user.locked':
        return state;
      default:
        return assertNever(event);
    }
  },
};

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
