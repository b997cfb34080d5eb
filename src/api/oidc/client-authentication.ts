import type { Request } from 'express';
import { credentialKind, matchesTlsClientAuth } from '../../domain/application/tls-client-auth.js';
import type { ClientAuthenticationFailed, ClientAuthenticationFailure } from '../../domain/audit/denials.js';
import { matchesRegisteredCertificate } from '../../infra/tls/certificate.js';
import type { OAuthClient } from '../../projections/applications/queries.js';
import { InvalidClientError, InvalidRequestError } from '../http/errors.js';
import type { PresentedCertificate } from '../middleware/client-certificate.js';

export interface ClientDirectory {
  client(clientId: string): Promise<OAuthClient | undefined>;
  /** With `basicHeader`: the Authorization header the id and secret were decoded from. */
  authenticateClient(clientId: string, secret: string, basicHeader?: string): Promise<OAuthClient | undefined>;
  /** The client this exact Basic Authorization header already authenticated, while nothing of its application changed since (KnownClients). */
  basicAuthenticated?(header: string): { readonly clientId: string; readonly client: OAuthClient } | undefined;
}

/**
 * A refused client authentication: the 401 invalid_client, and what its
 * record (client.authentication.failed) says. Never the secret presented.
 */
export class ClientAuthenticationError extends InvalidClientError {
  constructor(
    readonly reason: ClientAuthenticationFailure,
    readonly attempt: { readonly clientId: string; readonly organizationId?: string; readonly method: ClientAuthenticationFailed['method'] },
    description?: string,
    challenge?: string,
  ) {
    super(description, challenge);
  }
}

/** The challenge a 401 carries when the client tried the Authorization header (RFC 6749 5.2). */
export const BASIC_CHALLENGE = 'Basic realm="oauth2", charset="UTF-8"';

const decodeBasic = (header: string): { id: string; secret: string } | undefined => {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    // RFC 6749 2.3.1: both parts are form-urlencoded before base64.
    return { id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')) };
  } catch {
    return undefined;
  }
};

/** Whether the certificate proves the client, by the RFC 8705 method it registered. */
export function certificateProvesClient(client: OAuthClient, certificate: PresentedCertificate | undefined): boolean {
  if (!certificate) return false;
  switch (client.tokenEndpointAuthMethod) {
    case 'tls_client_auth':
      // The chain verified against TLS_CLIENT_CA_FILE, and the registered subject DN or SAN.
      return matchesTlsClientAuth(certificate, client);
    case 'self_signed_tls_client_auth':
      // No chain: the registered certificate or key is the trust.
      return matchesRegisteredCertificate(certificate.x509, client);
    default:
      return false;
  }
}

/** A client is authenticated by its certificate: its tokens are bound to that certificate (RFC 8705 3). */
export const authenticatesWithCertificate = (client: OAuthClient): boolean => credentialKind(client.tokenEndpointAuthMethod) === 'certificate';

/**
 * Who is calling the token, revocation or introspection endpoint:
 * client_secret_basic, client_secret_post, tls_client_auth and
 * self_signed_tls_client_auth (client_id in the body, the certificate proves
 * it; RFC 8705 2), or (public clients) none. Exactly one method per request
 * (RFC 6749 2.3), and the one the client registered: a certificate client has
 * no secret, and a secret client's certificate proves nothing.
 */
export async function authenticateClient(
  req: Request,
  clients: ClientDirectory,
  options: { allowPublic: boolean; certificate: PresentedCertificate | undefined },
): Promise<OAuthClient> {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const header = req.get('authorization');
  // A client that tried the Authorization header is told, on failure, how to use it.
  const challenge = header === undefined ? undefined : BASIC_CHALLENGE;
  // The same header as a remembered authentication: no decoding, no digest (the checks below still apply).
  const remembered = header ? clients.basicAuthenticated?.(header) : undefined;
  const basic = remembered ? { id: remembered.clientId, secret: undefined } : header ? decodeBasic(header) : undefined;
  if (header !== undefined && !basic) {
    throw new ClientAuthenticationError('malformed_credentials', { clientId: '', method: 'client_secret_basic' }, 'malformed Authorization header; use HTTP Basic with the client id and secret', challenge);
  }
  const postedId = typeof body.client_id === 'string' ? body.client_id : undefined;
  const postedSecret = typeof body.client_secret === 'string' ? body.client_secret : undefined;
  if (basic && postedSecret !== undefined) throw new InvalidRequestError('use one client authentication method, not two');
  if (basic && postedId !== undefined && postedId !== basic.id) throw new InvalidRequestError('client_id does not match the authenticated client');

  if (remembered) return remembered.client;
  if (basic || postedSecret !== undefined) {
    const id = basic?.id ?? postedId;
    const secret = basic?.secret ?? postedSecret!;
    const method = basic ? 'client_secret_basic' : 'client_secret_post';
    const client = id ? await clients.authenticateClient(id, secret, basic ? header : undefined) : undefined;
    if (!client) {
      // Only once refused: which client the id names, for the record (the answer is the same either way).
      const known = id ? await clients.client(id) : undefined;
      const reason = !known ? 'unknown_client' : !known.enabled ? 'client_disabled' : 'wrong_secret';
      throw new ClientAuthenticationError(reason, { clientId: id ?? '', ...(known && { organizationId: known.organizationId }), method }, undefined, challenge);
    }
    return client;
  }
  const method = options.certificate ? 'certificate' : 'none';
  if (!postedId) throw new ClientAuthenticationError('authentication_required', { clientId: '', method }, 'client authentication is required');
  const client = await clients.client(postedId);
  if (!client || !client.enabled) {
    throw new ClientAuthenticationError(client ? 'client_disabled' : 'unknown_client', { clientId: postedId, ...(client && { organizationId: client.organizationId }), method });
  }
  const attempt = { clientId: postedId, organizationId: client.organizationId, method } as const;
  if (authenticatesWithCertificate(client)) {
    if (!certificateProvesClient(client, options.certificate)) {
      throw new ClientAuthenticationError('certificate_not_accepted', attempt, 'a client certificate that authenticates this client is required');
    }
    return client;
  }
  if (!client.public || !options.allowPublic) throw new ClientAuthenticationError('authentication_required', attempt, 'this client must authenticate with its secret');
  return client;
}
