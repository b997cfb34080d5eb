import { z } from 'zod';

/**
 * A session is one (client, subject) pair's login. Its stream holds every
 * generation: a new login starts a new generation that supersedes the previous
 * one. Events carry the whole session state, so the newest event alone is the
 * state: the token service reads one event per refresh, however long the
 * session has lived.
 */
const sessionState = {
  sessionId: z.string(),
  clientId: z.string(),
  /** The user's id, or the client's own id for client credentials. */
  subjectId: z.string(),
  subjectKind: z.enum(['user', 'application']),
  organizationId: z.string(),
  scope: z.string(),
  authTime: z.number().int(),
  /** How many times the refresh token was rotated in this generation. */
  refreshCount: z.number().int().min(0),
  /** SHA-256 of the refresh token this event handed out; null when none (client credentials, no offline_access). */
  refreshTokenSha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  /**
   * RFC 8705 4: a public client that presented a certificate when the session started has its refresh
   * tokens bound to it (the x5t#S256 thumbprint, public): a refresh must present the same certificate.
   */
  certificateThumbprint: z.string().regex(/^[A-Za-z0-9_-]{43}$/).optional(),
};

export const sessionEventSchemas = {
  'session.started': z.object(sessionState),
  'session.refreshed': z.object(sessionState),
  'session.revoked': z.object({
    ...sessionState,
    reason: z.enum([
      'refresh_token_reused',
      'authorization_code_replayed',
      'revoked_by_client',
      'user_removed',
      'client_removed',
      /** Trust ended: the password was reset by an administrator or changed by the user, the user suspended, the client disabled. */
      'password_reset',
      'password_changed',
      'user_suspended',
      'client_disabled',
      /** An administrator signed the user out everywhere (POST /api/v1/users/{userId}/logout). */
      'signed_out_by_administrator',
    ]),
  }),
} as const;

type Schemas = typeof sessionEventSchemas;
export type SessionEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];
export type SessionFacts = z.infer<Schemas['session.started']>;
export type RevocationReason = z.infer<Schemas['session.revoked']>['reason'];

export const sessionStream = (clientId: string, subjectId: string): string => `session-${clientId}-${subjectId}`;
