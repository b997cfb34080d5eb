import { z } from 'zod';

/**
 * A sign-up: a user created while email verification is on starts `pending`,
 * and becomes `active` when they open the link mailed to them. Its stream is
 * the user's sign-up alone (`signup-<userId>`), so that the user's own stream
 * keeps only whole-state events. No event carries the email address (it is the
 * user's, erased with the user) or the link's secret (only its SHA-256).
 */
export const signupEventSchemas = {
  'signup.started': z.object({
    userId: z.string(),
    organizationId: z.string(),
    /** The application whose homeURI (or errorURI) the link returns to; the one the administrator used, when known. */
    clientId: z.string().optional(),
  }),
  /** A link was minted: `generation` numbers the links, and only the newest one's digest counts. */
  'signup.link.issued': z.object({
    userId: z.string(),
    generation: z.number().int().min(1),
    tokenSha256: z.string().regex(/^[0-9a-f]{64}$/),
    expiresAt: z.iso.datetime({ offset: true }),
  }),
  /** The mail with that link was handed to the SMTP server. */
  'signup.link.mailed': z.object({ userId: z.string(), generation: z.number().int().min(1) }),
  'signup.completed': z.object({ userId: z.string(), organizationId: z.string() }),
  /** The user was deleted or made active otherwise before the link was used: its links no longer work. */
  'signup.cancelled': z.object({ userId: z.string() }),
} as const;

type Schemas = typeof signupEventSchemas;
export type SignupEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

export const signupStream = (userId: string): string => `signup-${userId}`;
