import {
  changePassword,
  credentialDecider,
  isLocked,
  type LockoutPolicy,
  recordLoginFailure,
  recordLoginSuccess,
  replaceTemporaryPassword,
} from '../../domain/credentials/decider.js';
import { credentialsStream } from '../../domain/credentials/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { InvalidCommandError } from '../../domain/shared/errors.js';
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from '../../infra/crypto/passwords.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import { handleCommand, loadState } from '../pipeline.js';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

export type LoginOutcome =
  | { readonly result: 'ok'; readonly mustChangePassword: boolean; readonly position?: GlobalPosition }
  | { readonly result: 'wrong_password' | 'locked' | 'no_password' };

interface UserRef {
  readonly userId: string;
  readonly organizationId: string;
}

/** Password rules: length only, as NIST SP 800-63B advises; no composition rules. */
export function checkPasswordRules(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new InvalidCommandError(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new InvalidCommandError(`the password must have at most ${MAX_PASSWORD_LENGTH} characters`);
}

/** Local passwords and the sign-in record: failed logins are events, and too many in a row lock the account. */
export class CredentialCommands {
  constructor(
    private readonly events: EventStore,
    private readonly policy: LockoutPolicy,
  ) {}

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

  /** Check a password, recording the outcome. Unknown users cost the same time as known ones. */
  async verifyLogin(user: UserRef | undefined, password: string, meta: CommandMetadata): Promise<LoginOutcome> {
    if (!user) {
      await verifyPassword(password, await DUMMY_HASH_PROMISE);
      return { result: 'wrong_password' };
    }
    const stream = credentialsStream(user.userId);
    const { state } = await loadState(this.events, stream, credentialDecider);
    if (isLocked(state, meta.now)) return { result: 'locked' };
    if (state.status === 'none') {
      await verifyPassword(password, await DUMMY_HASH_PROMISE);
      return { result: 'no_password' };
    }
    const matches = await verifyPassword(password, state.passwordHash);
    if (!matches) {
      const result = await handleCommand(this.events, stream, credentialDecider, (current) => recordLoginFailure(current, user, this.policy, meta.now), meta);
      return { result: isLocked(result.state, meta.now) ? 'locked' : 'wrong_password' };
    }
    const result = await handleCommand(this.events, stream, credentialDecider, (current) => recordLoginSuccess(current, user), meta);
    return { result: 'ok', mustChangePassword: state.temporary, position: result.position };
  }

  /** A signed-in user changes their own password, proving they know the current one. */
  async changeOwnPassword(
    user: UserRef,
    currentPassword: string,
    newPassword: string,
    meta: CommandMetadata,
    keepSessionId?: string,
  ): Promise<GlobalPosition | undefined> {
    const { state } = await loadState(this.events, credentialsStream(user.userId), credentialDecider);
    if (isLocked(state, meta.now)) throw new InvalidCommandError('the account is locked; try again later');
    if (state.status !== 'set' || !(await verifyPassword(currentPassword, state.passwordHash))) {
      await handleCommand(this.events, credentialsStream(user.userId), credentialDecider, (current) => recordLoginFailure(current, user, this.policy, meta.now), meta);
      throw new InvalidCommandError('the current password is not right');
    }
    if (currentPassword === newPassword) throw new InvalidCommandError('the new password must differ from the current one');
    return this.setPassword(user, newPassword, false, meta, keepSessionId);
  }
}
