import { changePassword, credentialDecider, replaceTemporaryPassword } from '../../domain/credentials/decider.js';
import { credentialsStream } from '../../domain/credentials/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { InvalidCommandError } from '../../domain/shared/errors.js';
import type { HashLane } from '../../infra/crypto/hash-queue.js';
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from '../../infra/crypto/passwords.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import { handleCommand, loadState } from '../pipeline.js';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

export type LoginOutcome = { readonly result: 'ok'; readonly mustChangePassword: boolean } | { readonly result: 'wrong_password' };

interface UserRef {
  readonly userId: string;
  readonly organizationId: string;
}

/** Password rules: length only, as NIST SP 800-63B advises; no composition rules. */
export function checkPasswordRules(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new InvalidCommandError(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new InvalidCommandError(`the password must have at most ${MAX_PASSWORD_LENGTH} characters`);
}

/**
 * Local passwords. Checking one records nothing: failed attempts are slowed
 * down in memory by the routes (src/api/auth/login-throttle.ts), never by a
 * lock an attacker could set on someone else's account.
 */
export class CredentialCommands {
  constructor(private readonly events: EventStore) {}

  async setPassword(user: UserRef, password: string, temporary: boolean, meta: CommandMetadata, keepSessionId?: string): Promise<GlobalPosition | undefined> {
    checkPasswordRules(password);
    const passwordHash = await hashPassword(password);
    const result = await handleCommand(
      this.events,
      credentialsStream(user.userId),
      credentialDecider,
      () => changePassword(user, passwordHash, temporary, keepSessionId),
      meta,
    );
    return result.position;
  }

  /** The user chooses their own password in place of the temporary one an administrator set; throws ConflictError if there is none. */
  async replaceTemporaryPassword(user: UserRef, password: string, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    checkPasswordRules(password);
    const passwordHash = await hashPassword(password);
    const result = await handleCommand(this.events, credentialsStream(user.userId), credentialDecider, (state) => replaceTemporaryPassword(state, user, passwordHash), meta);
    return result.position;
  }

  /**
   * Check a password. Exactly one scrypt check whatever the case (no such
   * user, no password, wrong, right), so the answer's time tells nothing.
   */
  async verifyLogin(user: UserRef | undefined, password: string, lane?: HashLane): Promise<LoginOutcome> {
    const state = user ? (await loadState(this.events, credentialsStream(user.userId), credentialDecider)).state : undefined;
    const stored = state?.status === 'set' ? state.passwordHash : await DUMMY_HASH_PROMISE;
    const matches = await verifyPassword(password, stored, lane);
    return matches && state?.status === 'set' ? { result: 'ok', mustChangePassword: state.temporary } : { result: 'wrong_password' };
  }

  /** A signed-in user changes their own password, proving they know the current one. */
  async changeOwnPassword(
    user: UserRef,
    currentPassword: string,
    newPassword: string,
    meta: CommandMetadata,
    keepSessionId?: string,
    lane?: HashLane,
  ): Promise<GlobalPosition | undefined> {
    if ((await this.verifyLogin(user, currentPassword, lane)).result !== 'ok') throw new WrongCurrentPasswordError();
    if (currentPassword === newPassword) throw new InvalidCommandError('the new password must differ from the current one');
    return this.setPassword(user, newPassword, false, meta, keepSessionId);
  }
}

/** The current password given to change one's own is not right (the route counts it toward the caller's delay). */
export class WrongCurrentPasswordError extends InvalidCommandError {
  constructor() {
    super('the current password is not right');
  }
}
