import { z } from 'zod';
import { grantTypeSchema, jwksSchema, tokenEndpointAuthMethodSchema } from '../../domain/application/events.js';
import { jwkProblem, pemCertificateProblem } from '../../infra/tls/certificate.js';
import { organizationScopedResourceReadMetadataSchema } from '../organizations/schemas.js';
import { organizationPathSchema, resourceWriteMetadataSchema } from '../organizations/schemas.js';

const idSchema = z.string().min(1).max(128);

/** A registered key for self_signed_tls_client_auth: public, readable, its x5c (if any) holding it. */
const registeredJwksSchema = jwksSchema.superRefine((jwks, ctx) => {
  jwks.keys.forEach((jwk, index) => {
    const problem = jwkProblem(jwk);
    if (problem) ctx.addIssue({ code: 'custom', path: ['keys', index], message: problem });
  });
});
const registeredCertificateSchema = z
  .string()
  .max(16_384)
  .superRefine((pem, ctx) => {
    const problem = pemCertificateProblem(pem);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
const tlsIdentitySchema = z.string().min(1).max(1024);

/** RFC 8705 client authentication: the method, and what identifies the client's certificate. */
const clientAuthenticationWrite = {
  /** Default: client_secret_basic, or none for a public application. */
  tokenEndpointAuthMethod: tokenEndpointAuthMethodSchema.optional(),
  tlsClientAuthSubjectDN: tlsIdentitySchema.optional(),
  tlsClientAuthSanDNS: tlsIdentitySchema.optional(),
  tlsClientAuthSanURI: tlsIdentitySchema.optional(),
  tlsClientAuthSanIP: tlsIdentitySchema.optional(),
  tlsClientAuthSanEmail: tlsIdentitySchema.optional(),
  jwks: registeredJwksSchema.optional(),
  tlsClientCertificates: z.array(registeredCertificateSchema).min(1).max(10).optional(),
};

/**
 * The shape only; the rules between fields (grant types, redirect URIs,
 * platform) are the domain's, so that PUT and PATCH answer them alike.
 */
const applicationSpecWriteSchema = z
  .object({
    redirectURIs: z.array(z.string().min(1).max(2048)).max(64).default([]),
    grantTypes: z.array(grantTypeSchema).max(3),
    public: z.boolean().default(false),
    enabled: z.boolean().default(true),
    groupIDs: z.array(idSchema).max(256).default([]),
    platform: z.boolean().default(false),
    /** An https page of the application that offers the ways to sign in and posts back to /oauth2/v2/login (docs/federation.md). */
    loginURI: z.string().min(1).max(2048).optional(),
    ...clientAuthenticationWrite,
    homeURI: z.string().min(1).max(2048).optional().describe('Where a completed sign-up lands.'),
    errorURI: z.string().min(1).max(2048).optional().describe('Where a failed sign-up link lands, with error and error_description.'),
    onboardingURI: z.string().min(1).max(2048).optional().describe('Where a federated user without an account is handed to choose an organization.'),
  })
  .strict()
  .meta({ id: 'applicationSpecWrite' });

export const applicationWriteSchema = z
  .object({ metadata: resourceWriteMetadataSchema, spec: applicationSpecWriteSchema })
  .strict()
  .meta({ id: 'applicationWrite' });
export type ApplicationWrite = z.infer<typeof applicationWriteSchema>;

/** A JSON merge patch (RFC 7396) of an applicationWrite; the merged result is validated as one. */
export const applicationPatchSchema = z.record(z.string(), z.unknown()).meta({ id: 'applicationPatch' });

export const applicationSpecSchema = z
  .object({
    redirectURIs: z.array(z.string()),
    grantTypes: z.array(grantTypeSchema),
    public: z.boolean(),
    enabled: z.boolean(),
    groupIDs: z.array(z.string()),
    platform: z.boolean(),
    loginURI: z.string().optional(),
    tokenEndpointAuthMethod: tokenEndpointAuthMethodSchema,
    tlsClientAuthSubjectDN: z.string().optional(),
    tlsClientAuthSanDNS: z.string().optional(),
    tlsClientAuthSanURI: z.string().optional(),
    tlsClientAuthSanIP: z.string().optional(),
    tlsClientAuthSanEmail: z.string().optional(),
    jwks: jwksSchema.optional(),
    tlsClientCertificates: z.array(z.string()).optional(),
    homeURI: z.string().optional(),
    errorURI: z.string().optional(),
    onboardingURI: z.string().optional(),
  })
  .meta({ id: 'applicationSpec' });

/** The secret appears only in the answers to create and rotate, once (never for certificate or public clients). */
export const applicationStatusSchema = z.object({ clientSecret: z.string().optional() }).meta({ id: 'applicationStatus' });

export const applicationReadSchema = z
  .object({ metadata: organizationScopedResourceReadMetadataSchema, spec: applicationSpecSchema, status: applicationStatusSchema })
  .meta({ id: 'applicationRead' });

export const applicationsSchema = z.array(applicationReadSchema).meta({ id: 'applications' });

export const applicationPathSchema = organizationPathSchema.extend({ applicationID: idSchema });
