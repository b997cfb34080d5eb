import type { Request } from 'express';
import type { AccessTokenClaims } from '../../commands/oauth/token-service.js';
import type { Caller } from '../auth/caller.js';
import type { PresentedCertificate } from '../middleware/client-certificate.js';
import type { OidcDependencies } from './shared.js';
import type { UserDirectory } from './user-directory.js';

/** The claims the ID token and userinfo carry for a user who may still sign in. */
export async function liveUserClaims(users: UserDirectory, userId: string) {
  const user = await users.byId(userId);
  return user && user.state === 'active' ? { sub: user.id, email: user.subject, name: user.name, organizationId: user.organizationId } : undefined;
}

/**
 * RFC 8705 3: a token bound to a certificate (cnf x5t#S256) is good only on a
 * request that presents that same certificate; an unbound token anywhere.
 */
export const certificateBindingHolds = (claims: AccessTokenClaims, certificate: PresentedCertificate | undefined): boolean =>
  claims.cnf === undefined || (certificate !== undefined && certificate.thumbprint === claims.cnf['x5t#S256']);

/**
 * A bearer access token's claims and session, if it is signed by us, presented
 * with the certificate it is bound to (if any), its session current and its client enabled.
 */
export async function liveToken(deps: Pick<OidcDependencies, 'tokens' | 'sessions'>, token: string, certificate: PresentedCertificate | undefined) {
  const signed = await deps.tokens.verifySignature(token);
  const claims = signed && certificateBindingHolds(signed, certificate) ? signed : undefined;
  const session = claims && (await deps.sessions.live(claims));
  return session && { claims: claims!, session };
}

/** The user a live token speaks for, unless suspended or gone. Each use counts as the user's activity (throttled in the token service). */
export async function activeUser(deps: Pick<OidcDependencies, 'tokens' | 'users'>, userId: string) {
  const user = await liveUserClaims(deps.users, userId);
  if (user) await deps.tokens.recordActivity({ userId: user.sub, organizationId: user.organizationId, subject: user.email });
  return user;
}

/** The user behind a bearer access token, if the token and the user are still good. */
export async function resolveUserToken(deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users'>, token: string, certificate: PresentedCertificate | undefined) {
  const live = await liveToken(deps, token, certificate);
  const user = live?.session.subjectKind === 'user' ? await activeUser(deps, live.claims.sub) : undefined;
  return user && { claims: live!.claims, user };
}

/** The access-token credential for the admin API: a user's or a client's, while its session is current and its client enabled. */
export const accessTokenCredential = (
  deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users' | 'certificates'> & { applicationName: (id: string) => Promise<string | undefined> },
) =>
  async (token: string, req?: Request): Promise<Caller | undefined> => {
    // Not a JWT: another resolver's token (a service account's), no need to verify.
    if (token.split('.').length !== 3) return undefined;
    const live = await liveToken(deps, token, req && deps.certificates.of(req));
    if (!live) return undefined;
    const { claims, session } = live;
    if (session.subjectKind === 'application') {
      const name = await deps.applicationName(claims.client_id);
      return name === undefined
        ? undefined
        : { subject: name, kind: 'application', platformAdministrator: false, organizationId: session.organizationId, principalId: claims.client_id, clientId: claims.client_id };
    }
    const user = await activeUser(deps, claims.sub);
    return (
      user && { subject: user.email, kind: 'user', platformAdministrator: false, organizationId: user.organizationId, principalId: user.sub, sessionId: claims.sid, clientId: claims.client_id }
    );
  };
