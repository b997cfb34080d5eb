import { z } from 'zod';

/**
 * A person was erased (GDPR art. 17, docs/crypto-shredding.md): their data key
 * is destroyed, and every field of theirs in the log reads `[erased]`. On
 * `erasure-<userId>`, written once; it carries ids only.
 */
export const personalDataEventSchemas = {
  'user.erased': z.object({ userId: z.string(), organizationId: z.string() }),
} as const;

type Schemas = typeof personalDataEventSchemas;
export type PersonalDataEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

export const erasureStream = (userId: string): string => `erasure-${userId}`;
