import { z } from 'zod';
import { defineRoute } from '../http/route.js';
import { type OidcDependencies, PATHS, SUPPORTED_SCOPES } from './shared.js';

const discoverySchema = z
  .object({
    issuer: z.string(),
    authorization_endpoint: z.string(),
    token_endpoint: z.string(),
    userinfo_endpoint: z.string(),
    jwks_uri: z.string(),
    revocation_endpoint: z.string(),
    introspection_endpoint: z.string(),
    scopes_supported: z.array(z.string()),
    claims_supported: z.array(z.string()),
    response_types_supported: z.array(z.string()),
    response_modes_supported: z.array(z.string()),
    grant_types_supported: z.array(z.string()),
    subject_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    revocation_endpoint_auth_methods_supported: z.array(z.string()),
    introspection_endpoint_auth_methods_supported: z.array(z.string()),
    id_token_signing_alg_values_supported: z.array(z.string()),
    code_challenge_methods_supported: z.array(z.string()),
    claims_parameter_supported: z.boolean(),
    request_parameter_supported: z.boolean(),
    request_uri_parameter_supported: z.boolean(),
    authorization_response_iss_parameter_supported: z.boolean(),
    tls_client_certificate_bound_access_tokens: z.boolean().optional(),
    mtls_endpoint_aliases: z.record(z.string(), z.string()).optional(),
  })
  .meta({ id: 'openidConfiguration' });


/** OIDC discovery and the JWKS. */
export function discoveryRoutes(deps: Pick<OidcDependencies, 'issuer' | 'keys' | 'mtlsIssuer'>) {
  const { issuer, keys, mtlsIssuer } = deps;
  const url = (path: string) => `${issuer}${path}`;
  // RFC 8705: listed when client certificates can reach the service (its own TLS, or a proxy's header).
  const certificateMethods = mtlsIssuer === undefined ? [] : ['tls_client_auth', 'self_signed_tls_client_auth'];
  const mtls = mtlsIssuer !== undefined && {
    tls_client_certificate_bound_access_tokens: true,
    mtls_endpoint_aliases: {
      token_endpoint: `${mtlsIssuer}${PATHS.token}`,
      userinfo_endpoint: `${mtlsIssuer}${PATHS.userinfo}`,
      revocation_endpoint: `${mtlsIssuer}${PATHS.revocation}`,
      introspection_endpoint: `${mtlsIssuer}${PATHS.introspection}`,
    },
  };
  return [
    defineRoute({
      method: 'get',
      path: '/.well-known/openid-configuration',
      summary: 'OpenID Connect discovery.',
      tags: ['oidc'],
      access: 'public',
      responses: { 200: { description: 'What this provider supports.', schema: discoverySchema } },
      handler: async () => ({
        status: 200,
        body: {
          issuer,
          authorization_endpoint: url(PATHS.authorization),
          token_endpoint: url(PATHS.token),
          userinfo_endpoint: url(PATHS.userinfo),
          jwks_uri: url(PATHS.jwks),
          revocation_endpoint: url(PATHS.revocation),
          introspection_endpoint: url(PATHS.introspection),
          scopes_supported: [...SUPPORTED_SCOPES],
          claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'azp', 'at_hash', 'sid', 'email', 'email_verified', 'name', 'preferred_username'],
          response_types_supported: ['code'],
          response_modes_supported: ['query'],
          grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
          subject_types_supported: ['public'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', ...certificateMethods, 'none'],
          revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', ...certificateMethods, 'none'],
          introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', ...certificateMethods],
          id_token_signing_alg_values_supported: ['ES256'],
          code_challenge_methods_supported: ['S256'],
          claims_parameter_supported: false,
          request_parameter_supported: false,
          request_uri_parameter_supported: false,
          authorization_response_iss_parameter_supported: true,
          ...mtls,
        },
      }),
    }),
    defineRoute({
      method: 'get',
      path: PATHS.jwks,
      summary: 'The public keys that verify tokens: the current one and the previous one.',
      tags: ['oidc'],
      access: 'public',
      responses: { 200: { description: 'A JSON web key set.', schema: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).meta({ id: 'jsonWebKeySet' }) } },
      handler: async () => ({ status: 200, body: await keys.jwks(), headers: { 'Cache-Control': 'public, max-age=300' } }),
    }),
  ];
}
