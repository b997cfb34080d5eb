import { z } from 'zod';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../shared/resource.js';
import { TOKEN_ENDPOINT_AUTH_METHODS } from './tls-client-auth.js';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const grantTypeSchema = z.enum(GRANT_TYPES);
export type GrantType = z.infer<typeof grantTypeSchema>;

/** A SHA-256 digest in hex: all the log ever keeps of a client secret. */
export const secretDigestSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest in hex');

export const tokenEndpointAuthMethodSchema = z.enum(TOKEN_ENDPOINT_AUTH_METHODS);

/** Members of a JWK that hold private or secret key material: never registered, never in the log. */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** A public JSON web key (RFC 7517), possibly with its certificate chain (x5c: base64 DER, the key's certificate first). */
export const publicJwkSchema = z
  .object({ kty: z.string().min(1).max(16), x5c: z.array(z.string().max(16_384)).min(1).max(10).optional() })
  .catchall(z.unknown())
  .refine((jwk) => PRIVATE_JWK_MEMBERS.every((member) => !(member in jwk)), 'must be a public key: private key members are not accepted');
export type PublicJwk = z.infer<typeof publicJwkSchema>;
export const jwksSchema = z.object({ keys: z.array(publicJwkSchema).max(10) }).strict();
export type Jwks = z.infer<typeof jwksSchema>;

/**
 * Created and updated carry the application's whole writable state, so that
 * each projection (the API's read model, the token service's credentials) can
 * take any one of them on its own.
 */
const applicationState = {
  applicationId: z.string(),
  organizationId: z.string(),
  name: resourceNameSchema,
  description: descriptionSchema.optional(),
  tags: z.array(tagSchema),
  redirectURIs: z.array(z.string()),
  grantTypes: z.array(grantTypeSchema),
  public: z.boolean(),
  enabled: z.boolean(),
  groupIDs: z.array(z.string()),
  platform: z.boolean(),
  /** Set: it hosts its own sign-in chooser; the authorization endpoint sends the browser there with the signed request. */
  loginURI: z.string().optional(),
  /** How it authenticates at the token endpoint (RFC 8705 adds the certificate methods); absent in older events: from `public`. */
  tokenEndpointAuthMethod: tokenEndpointAuthMethodSchema.optional(),
  /** tls_client_auth: exactly one of these names its certificate (RFC 8705 2.1.2). */
  tlsClientAuthSubjectDN: z.string().optional(),
  tlsClientAuthSanDNS: z.string().optional(),
  tlsClientAuthSanURI: z.string().optional(),
  tlsClientAuthSanIP: z.string().optional(),
  tlsClientAuthSanEmail: z.string().optional(),
  /** self_signed_tls_client_auth: its public keys or certificates (public material only). */
  jwks: jwksSchema.optional(),
  tlsClientCertificates: z.array(z.string()).optional(),
  /** Where a finished sign-up lands (the application's home page), where a failed one lands, and where an unknown federated user is handed to be onboarded. */
  homeURI: z.string().optional(),
  errorURI: z.string().optional(),
  onboardingURI: z.string().optional(),
};

export const applicationEventSchemas = {
  // A confidential application is created with the digest of its first secret; a public one has none.
  'application.created': z.object({ ...applicationState, secretSha256: secretDigestSchema.optional() }),
  'application.updated': z.object(applicationState),
  'application.secret.rotated': z.object({ applicationId: z.string(), organizationId: z.string(), secretSha256: secretDigestSchema }),
  'application.deleted': z.object({ applicationId: z.string(), organizationId: z.string(), name: resourceNameSchema }),
} as const;

type Schemas = typeof applicationEventSchemas;
export type ApplicationEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];

export const applicationStream = (applicationId: string): string => `application-${applicationId}`;
