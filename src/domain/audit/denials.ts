import { z } from 'zod';
import { ENDPOINT_FAMILIES, OPERATIONS } from '../rbac/roles.js';

/**
 * The refusals an audit asks about that no command records (issue 11, "what
 * gets recorded"): 403s on the admin API and rejected client authentication.
 * Both are sampled per key and minute (src/commands/audit/sampler.ts): the
 * first refusal of a key in its window is an event at once; later ones only
 * count, and the next event of the key (or the flush after the window) carries
 * that count as `suppressed`. A flood therefore writes one event per key and
 * minute, whatever its size. See docs/audit-roles.md.
 */

/** Why a client's authentication at the token, introspection or revocation endpoint was refused. */
export const CLIENT_AUTHENTICATION_FAILURES = [
  /** The Authorization header was not HTTP Basic with an id and a secret. */
  'malformed_credentials',
  /** No client with the presented id (or one that is disabled). */
  'unknown_client',
  'client_disabled',
  /** A known client, a secret that is not its own. */
  'wrong_secret',
  /** A certificate client (RFC 8705) without a certificate that proves it. */
  'certificate_not_accepted',
  /** A confidential client that sent no secret, or a public one where a confidential one is required. */
  'authentication_required',
] as const;
export type ClientAuthenticationFailure = (typeof CLIENT_AUTHENTICATION_FAILURES)[number];

export const CLIENT_AUTHENTICATION_ENDPOINTS = ['token', 'introspection', 'revocation'] as const;
export type ClientAuthenticationEndpoint = (typeof CLIENT_AUTHENTICATION_ENDPOINTS)[number];

const CALLER_KINDS = ['platform_administrator', 'user', 'service_account', 'application', 'system'] as const;

export const auditDenialEventSchemas = {
  /**
   * A 403 on the admin API, on `accessdenials-<organizationId>` (or
   * `accessdenials-platform` for a route outside organizations). Sampled per
   * (caller, route) and minute. `route` is the template, never the raw URL;
   * `family`/`operation` are absent when the handler refused for another
   * reason than a missing permission (granting a role one does not hold).
   */
  'access.denied': z.object({
    caller: z.object({ kind: z.enum(CALLER_KINDS), id: z.string() }),
    /** The organization the path named; absent outside organizations. */
    organizationId: z.string().optional(),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
    route: z.string().max(512),
    family: z.enum(ENDPOINT_FAMILIES).optional(),
    operation: z.enum(OPERATIONS).optional(),
    /** Denials of this caller on this route since the previous event of the pair that were not written. */
    suppressed: z.number().int().min(0),
    /** Written by the flush at the end of a window: no new denial, only the suppressed count. */
    flush: z.boolean().optional(),
  }),
  /**
   * A rejected client authentication at the token, introspection or revocation
   * endpoint, on `loginaudit-<clientId>` for a known client (its organization
   * named) or `loginaudit-platform` for an unknown one. Sampled per (client
   * id, source address) and minute. Never the presented secret or certificate.
   */
  'client.authentication.failed': z.object({
    /** The id presented (truncated), known or not. */
    clientId: z.string().max(128),
    /** The client's organization, when the id names a client. */
    organizationId: z.string().optional(),
    endpoint: z.enum(CLIENT_AUTHENTICATION_ENDPOINTS),
    reason: z.enum(CLIENT_AUTHENTICATION_FAILURES),
    /** How it tried: HTTP Basic, a posted secret, a certificate, or nothing. */
    method: z.enum(['client_secret_basic', 'client_secret_post', 'certificate', 'none']),
    sourceAddress: z.string().optional(),
    suppressed: z.number().int().min(0),
    flush: z.boolean().optional(),
  }),
} as const;

type Schemas = typeof auditDenialEventSchemas;
export type AuditDenialEvent = { [T in keyof Schemas]: { type: T; data: z.infer<Schemas[T]> } }[keyof Schemas];
export type AccessDenied = z.infer<Schemas['access.denied']>;
export type ClientAuthenticationFailed = z.infer<Schemas['client.authentication.failed']>;

/** Where an organization's 403s go; `platform` for routes outside organizations. Kept as login records are (src/domain/retention.ts). */
export const accessDenialsStream = (organizationId: string | undefined): string => `accessdenials-${organizationId ?? 'platform'}`;
