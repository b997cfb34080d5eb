import { randomInt } from 'node:crypto';
import { changePassword, credentialDecider, type CredentialState, replaceTemporaryPassword } from '../../domain/credentials/decider.js';
import { credentialsStream } from '../../domain/credentials/events.js';
import {
  effectivePasswordPolicy,
  MAX_PASSWORD_LENGTH,
  MAX_REUSE_DISALLOW_LIMIT,
  type PasswordPolicy,
  PasswordPolicyViolationError,
  passwordViolations,
  reuseViolation,
} from '../../domain/credentials/password-policy.js';
import { organizationDecider } from '../../domain/organization/decider.js';
import { organizationStream } from '../../domain/organization/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { InvalidCommandError } from '../../domain/shared/errors.js';
import { userDecider } from '../../domain/user/decider.js';
import { userStream } from '../../domain/user/events.js';
import type { HashLane } from '../../infra/crypto/hash-queue.js';
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from '../../infra/crypto/passwords.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import { handleCommand, loadState } from '../pipeline.js';

export { MAX_PASSWORD_LENGTH };

/** Until an operator sets PASSWORD_POLICY_DEFAULT: what the service asked before policies existed (12 characters, nothing else). */
export const BUILT_IN_PASSWORD_POLICY: PasswordPolicy = {
  enabled: true,
  min_length: 12,
  reuse_disallow_limit: 0,
  digit: false,
  uppercase_letter: false,
  lowercase_letter: false,
  special_character: false,
  disallow_username_as_password: false,
  maximum_password_attempts: 5,
};

/** Reuse checks run this many scrypt verifications at once (each through the hash queue, like a login's). */
const REUSE_CHECKS_AT_ONCE = 2;

export type LoginOutcome = { readonly result: 'ok'; readonly mustChangePassword: boolean } | { readonly result: 'wrong_password' };

interface UserRef {
  readonly userId: string;
  readonly organizationId: string;
}

/** The user's names a password may not contain (disallow_username_as_password); for a user not created yet, the names it will have. */
export type PasswordOwnerNames = readonly string[];

/**
 * Local passwords. Checking one records nothing: failed attempts are slowed
 * down in memory by the routes (src/api/auth/login-throttle.ts), never by a
 * lock an attacker could set on someone else's account.
 *
 * Every password set or changed passes the organization's password policy
 * here, whichever API it came through (docs/password-policy.md): the rules,
 * then reuse against the user's latest password hashes.
 */
export class CredentialCommands {
  constructor(
    private readonly events: EventStore,
    /** Where an organization has no enabled policy of its own (PASSWORD_POLICY_DEFAULT). */
    readonly platformDefault: PasswordPolicy = BUILT_IN_PASSWORD_POLICY,
  ) {}

  /** The policy in force in the organization, as the write side has it (a policy just changed applies at once). */
  async policyOf(organizationId: string): Promise<PasswordPolicy> {
    const { state } = await loadState(this.events, organizationStream(organizationId), organizationDecider);
    return effectivePasswordPolicy(state.status === 'active' || state.status === 'deleting' ? state.passwordPolicy : undefined, this.platformDefault);
  }

  /**
   * Throw PasswordPolicyViolationError listing every rule the password breaks
   * in the organization: the rules, and (for an existing user) reuse of one of
   * its last reuse_disallow_limit passwords. A route calls it before it
   * creates a user, so that a refused password leaves nothing behind.
   */
  async checkPassword(organizationId: string, password: string, options: { names?: PasswordOwnerNames; userId?: string; lane?: HashLane } = {}): Promise<void> {
    await this.check(await this.policyOf(organizationId), password, options);
  }

  private async check(
    policy: PasswordPolicy,
    password: string,
    options: { names?: PasswordOwnerNames; userId?: string; lane?: HashLane; state?: CredentialState },
  ): Promise<void> {
    const names = options.names ?? (options.userId === undefined ? [] : await this.namesOf(options.userId));
    const violations = passwordViolations(policy, password, names);
    const limit = Math.min(policy.reuse_disallow_limit, MAX_REUSE_DISALLOW_LIMIT);
    if (limit > 0 && options.userId !== undefined && password.length <= MAX_PASSWORD_LENGTH) {
      const state = options.state ?? (await loadState(this.events, credentialsStream(options.userId), credentialDecider)).state;
      if (await this.reusesOneOf(password, state.recent.slice(0, limit), options.lane)) violations.push(reuseViolation(limit));
    }
    if (violations.length > 0) throw new PasswordPolicyViolationError(violations);
  }

  /** Is the password the one behind any of these hashes (each with its own salt; scrypt through the hash queue, constant-time compare)? */
  private async reusesOneOf(password: string, hashes: readonly string[], lane?: HashLane): Promise<boolean> {
    for (let i = 0; i < hashes.length; i += REUSE_CHECKS_AT_ONCE) {
      const batch = hashes.slice(i, i + REUSE_CHECKS_AT_ONCE);
      const matches = await Promise.all(batch.map((hash) => verifyPassword(password, hash, lane)));
      if (matches.includes(true)) return true;
    }
    return false;
  }

  /** The user's login name (its subject, often an email) and display name, from its own stream. */
  private async namesOf(userId: string): Promise<string[]> {
    const { state } = await loadState(this.events, userStream(userId), userDecider);
    return state.status === 'exists' ? [state.subject, state.name] : [];
  }

  /**
   * An administrator's reset: a temporary password the service makes up, that
   * satisfies the organization's policy (the user replaces it at the next login).
   */
  async setTemporaryPassword(user: UserRef, meta: CommandMetadata): Promise<{ tempPassword: string; position: GlobalPosition | undefined }> {
    const tempPassword = temporaryPasswordFor(await this.policyOf(user.organizationId));
    const passwordHash = await hashPassword(tempPassword);
    const result = await handleCommand(this.events, credentialsStream(user.userId), credentialDecider, () => changePassword(user, passwordHash, true), meta);
    return { tempPassword, position: result.position };
  }

  async setPassword(
    user: UserRef,
    password: string,
    temporary: boolean,
    meta: CommandMetadata,
    keepSessionId?: string,
    options: { names?: PasswordOwnerNames; lane?: HashLane } = {},
  ): Promise<GlobalPosition | undefined> {
    await this.check(await this.policyOf(user.organizationId), password, { ...options, userId: user.userId });
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
    await this.check(await this.policyOf(user.organizationId), password, { userId: user.userId });
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
    return this.setPassword(user, newPassword, false, meta, keepSessionId, { ...(lane !== undefined && { lane }) });
  }
}

/** The current password given to change one's own is not right (the route counts it toward the caller's delay). */
export class WrongCurrentPasswordError extends InvalidCommandError {
  constructor() {
    super('the current password is not right');
  }
}

const LOWER = 'abcdefghijkmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGITS = '23456789';
const SPECIAL = '-_.!@#%+=';
/** At least this long (about 128 bits from the alphabet below), longer when the policy asks. */
const TEMPORARY_LENGTH = 22;

/**
 * A temporary password the policy accepts: random characters, and at least one
 * of every class the policy asks for (placed at random positions).
 */
export function temporaryPasswordFor(policy: PasswordPolicy): string {
  const length = Math.max(TEMPORARY_LENGTH, policy.min_length);
  const alphabet = LOWER + UPPER + DIGITS + (policy.special_character ? SPECIAL : '');
  const chars = Array.from({ length }, () => alphabet[randomInt(alphabet.length)]!);
  const required = [policy.lowercase_letter && LOWER, policy.uppercase_letter && UPPER, policy.digit && DIGITS, policy.special_character && SPECIAL].filter(
    (set): set is string => typeof set === 'string',
  );
  // Distinct positions, one per class asked for.
  const positions = new Set<number>();
  while (positions.size < required.length) positions.add(randomInt(length));
  [...positions].forEach((position, i) => {
    const set = required[i]!;
    chars[position] = set[randomInt(set.length)]!;
  });
  return chars.join('');
}
