import { passwordPolicySchema } from '../../domain/credentials/password-policy.js';

/** Seed 002's password policy object, read and written whole. */
export const passwordPolicyReadSchema = passwordPolicySchema.meta({ id: 'passwordPolicy' });
export const passwordPolicyWriteSchema = passwordPolicySchema.meta({ id: 'passwordPolicyWrite' });
