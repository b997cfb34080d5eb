import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError } from '../shared/errors.js';
import type { CredentialEvent } from './events.js';

export type CredentialState =
  | { readonly status: 'none' }
  | { readonly status: 'set'; readonly passwordHash: string; readonly temporary: boolean };

export const credentialDecider: Decider<CredentialState, CredentialEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve(state, event) {
    switch (event.type) {
      case 'user.password.changed':
        return { status: 'set', passwordHash: event.data.passwordHash, temporary: event.data.temporary };
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
