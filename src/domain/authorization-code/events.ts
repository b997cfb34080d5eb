import { z } from 'zod';

/** An authorization code is single use: its own stream, redeemed with an expected revision. Only its hash is recorded. */
export const authorizationCodeEventSchemas = {
  'authorization_code.issued': z.object({
    codeSha256: z.string().regex(/^[0-9a-f]{64}$/),
    clientId: z.string(),
    userId: z.string(),
    organizationId: z.string(),
    redirectUri: z.string(),
    codeChallenge: z.string(),
    scope: z.string(),
    nonce: z.string().optional(),
    authTime: z.number().int(),
    expiresAt: z.number().int(),
  }),
  'authorization_code.redeemed': z.object({ codeSha256: z.string(), sessionId: z.string() }),
  'authorization_code.replayed': z.object({ codeSha256: z.string(), sessionId: z.string() }),
} as const;

type Schemas = typeof authorizationCodeEventSchemas;
export type AuthorizationCodeEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];
export type IssuedCode = z.infer<Schemas['authorization_code.issued']>;

export const authorizationCodeStream = (codeSha256: string): string => `authcode-${codeSha256}`;
