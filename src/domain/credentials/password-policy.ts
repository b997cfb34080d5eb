import { z } from 'zod';
import { InvalidCommandError } from '../shared/errors.js';

/** The most previous passwords a policy may forbid, and the most a user's credential state keeps. */
export const MAX_REUSE_DISALLOW_LIMIT = 24;
/** The longest password accepted whatever the policy (a scrypt input is not a place for megabytes). */
export const MAX_PASSWORD_LENGTH = 256;

/**
 * An organization's password policy (seed 002's object). The bounds keep a
 * policy meaningful: no password shorter than 8, no reuse check longer than the
 * history kept, no login throttling that never lets a user try twice.
 */
export const passwordPolicySchema = z
  .object({
    /** false: the organization has no policy of its own and the platform default applies. */
    enabled: z.boolean(),
    min_length: z.number().int().min(8).max(128),
    /** How many of the user's latest passwords (the current one included) a new one must differ from; 0: none. */
    reuse_disallow_limit: z.number().int().min(0).max(MAX_REUSE_DISALLOW_LIMIT),
    digit: z.boolean(),
    uppercase_letter: z.boolean(),
    lowercase_letter: z.boolean(),
    special_character: z.boolean(),
    disallow_username_as_password: z.boolean(),
    /** Failed passwords for one account from one address before each further one waits (docs/password-policy.md). */
    maximum_password_attempts: z.number().int().min(1).max(100),
  })
  .strict();
export type PasswordPolicy = z.infer<typeof passwordPolicySchema>;

export type PasswordRule =
  | 'min_length'
  | 'max_length'
  | 'digit'
  | 'uppercase_letter'
  | 'lowercase_letter'
  | 'special_character'
  | 'disallow_username_as_password'
  | 'reuse_disallow_limit';

export interface PasswordViolation {
  readonly rule: PasswordRule;
  readonly message: string;
}

/** The policy in force: the organization's own when it has one that is enabled, else the platform default. */
export const effectivePasswordPolicy = (own: PasswordPolicy | undefined, platformDefault: PasswordPolicy): PasswordPolicy =>
  own?.enabled ? own : platformDefault;

/** Names shorter than this are not looked for inside a password (every password would contain "al"). */
const MIN_NAME_LENGTH = 3;

/**
 * Every rule of the policy the password breaks, but reuse (that one needs the
 * user's history and slow hashes: see CredentialCommands). `names` are the
 * user's login name, email and display name, for disallow_username_as_password:
 * the password may not contain any of them (nor an email's local part), case aside.
 */
export function passwordViolations(policy: PasswordPolicy, password: string, names: readonly string[] = []): PasswordViolation[] {
  const violations: PasswordViolation[] = [];
  const length = [...password].length;
  if (length < policy.min_length) violations.push({ rule: 'min_length', message: `the password must have at least ${policy.min_length} characters` });
  if (password.length > MAX_PASSWORD_LENGTH) violations.push({ rule: 'max_length', message: `the password must have at most ${MAX_PASSWORD_LENGTH} characters` });
  if (policy.digit && !/\p{Nd}/u.test(password)) violations.push({ rule: 'digit', message: 'the password must contain a digit' });
  if (policy.uppercase_letter && !/\p{Lu}/u.test(password)) violations.push({ rule: 'uppercase_letter', message: 'the password must contain an upper-case letter' });
  if (policy.lowercase_letter && !/\p{Ll}/u.test(password)) violations.push({ rule: 'lowercase_letter', message: 'the password must contain a lower-case letter' });
  if (policy.special_character && !/[^\p{L}\p{N}]/u.test(password)) {
    violations.push({ rule: 'special_character', message: 'the password must contain a special character (neither a letter nor a digit)' });
  }
  if (policy.disallow_username_as_password && containsName(password, names)) {
    violations.push({ rule: 'disallow_username_as_password', message: 'the password must not contain the user name or email' });
  }
  return violations;
}

const containsName = (password: string, names: readonly string[]): boolean => {
  const lower = password.toLowerCase();
  const candidates = names.flatMap((name) => {
    const trimmed = name.trim().toLowerCase();
    const at = trimmed.indexOf('@');
    return at > 0 ? [trimmed, trimmed.slice(0, at)] : [trimmed];
  });
  return candidates.some((name) => name.length >= MIN_NAME_LENGTH && lower.includes(name));
};

export const reuseViolation = (limit: number): PasswordViolation => ({
  rule: 'reuse_disallow_limit',
  message: `the password must differ from the last ${limit} password${limit === 1 ? '' : 's'}`,
});

/** The password breaks the policy: every rule it breaks, listed (a 400 with `violations`). */
export class PasswordPolicyViolationError extends InvalidCommandError {
  override readonly name: string = 'PasswordPolicyViolationError';
  constructor(readonly violations: readonly PasswordViolation[]) {
    super(violations.map((v) => v.message).join('; '));
  }
}
