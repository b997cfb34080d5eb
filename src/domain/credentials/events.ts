import type { LoginFlowEvent } from '../login-flow/events.js';
import { z } from 'zod';

/**
 * A local user's password and sign-in record, in a stream of its own
 * (`credentials-<userId>`) so the user's profile stream never carries a
 * password hash. Only scrypt hashes are recorded, never a password.
 */
export const credentialEventSchemas = {
  'user.password.changed': z.object({
    userId: z.string(),
    organizationId: z.string(),
    passwordHash: z.string().startsWith('scrypt$'),
    /** Set by an administrator's reset: the user must choose a new one at the next login. */
    temporary: z.boolean(),
    /** The session the user changed their own password in: it stays, every other session of the user ends. */
    keepSessionId: z.string().optional(),
  }),
  // No longer written (failed logins live in memory, as progressive delays); old logs hold it.
  'user.locked': z.object({ userId: z.string(), organizationId: z.string(), until: z.string() }),
} as const;

type Schemas = typeof credentialEventSchemas;
/**
 * Old credentials streams also hold `user.login.failed` and `user.login.succeeded`
 * (version 1). Those types now belong to the login records (src/domain/login-flow/events.ts),
 * which upcast version 1; the credentials decider passes over them.
 */
export type CredentialEvent =
  | { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas]
  | Extract<LoginFlowEvent, { type: 'user.login.failed' | 'user.login.succeeded' }>;

export const credentialsStream = (userId: string): string => `credentials-${userId}`;
