import type { Request } from 'express';
import type { AccessTokenClaims } from '../../commands/oauth/token-service.js';
import type { Caller } from '../auth/caller.js';
import type { PresentedCertificate } from '../middleware/client-certificate.js';
import type { OidcDependencies } from './shared.js';
import type { UserDirectory } from './user-directory.js';
import type { LiveTokenFacts, LiveUser } from '../../projections/sessions/live-tokens.js';

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
 * What a bearer access token is good for right now, if it is signed by us and its session is
 * current and its client enabled: its claims, its session and its subject (the user while
 * active, or the application's name). Remembered in `liveTokens` until the token expires or an
 * event changes the answer (src/projections/sessions/live-tokens.ts): a token presented again
 * costs no signature check and no read-model lookup. The certificate binding is the caller's
 * to check (it depends on the request).
 */
export async function checkedToken(deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users' | 'liveTokens'>, token: string): Promise<LiveTokenFacts | undefined> {
  const known = deps.liveTokens.get(token);
  if (known) return known;
  const mark = deps.liveTokens.mark();
  const claims = await deps.tokens.verifySignature(token);
  const found = claims && (await deps.sessions.liveWithClient(claims));
  if (!claims || !found) return undefined;
  const { session, client } = found;
  const user = session.subjectKind === 'user' ? await liveUserClaims(deps.users, claims.sub) : undefined;
  const facts: LiveTokenFacts = { claims, session, ...(user && { user }), ...(session.subjectKind === 'application' && { applicationName: client.name }) };
  deps.liveTokens.remember(token, facts, mark);
  return facts;
}

/**
 * A bearer access token's facts, if it is good (checkedToken) and presented with the
 * certificate it is bound to (if any).
 */
export async function liveToken(deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users' | 'liveTokens'>, token: string, certificate: PresentedCertificate | undefined) {
  const facts = await checkedToken(deps, token);
  return facts && certificateBindingHolds(facts.claims, certificate) ? facts : undefined;
}

/** Each use of a user's token counts as the user's activity (throttled in the token service: one event a minute at most). */
const recordActivity = async (deps: Pick<OidcDependencies, 'tokens'>, user: LiveUser) => {
  await deps.tokens.recordActivity({ userId: user.sub, organizationId: user.organizationId, subject: user.email });
};

/** The user behind a bearer access token, if the token and the user are still good. */
export async function resolveUserToken(
  deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users' | 'liveTokens'>,
  token: string,
  certificate: PresentedCertificate | undefined,
) {
  const live = await liveToken(deps, token, certificate);
  const user = live?.session.subjectKind === 'user' ? live.user : undefined;
  if (!user) return undefined;
  await recordActivity(deps, user);
  return { claims: live!.claims, user };
}

/** The access-token credential for the admin API: a user's or a client's, while its session is current and its client enabled. */
export const accessTokenCredential = (deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users' | 'certificates' | 'liveTokens'>) =>
  async (token: string, req?: Request): Promise<Caller | undefined> => {
    // Not a JWT: another resolver's token (a service account's), no need to verify.
    if (token.split('.').length !== 3) return undefined;
    const live = await liveToken(deps, token, req && deps.certificates.of(req));
    if (!live) return undefined;
    const { claims, session, user, applicationName } = live;
    if (session.subjectKind === 'application') {
      return applicationName === undefined
        ? undefined
        : { subject: applicationName, kind: 'application', platformAdministrator: false, organizationId: session.organizationId, principalId: claims.client_id, clientId: claims.client_id };
    }
    if (!user) return undefined;
    await recordActivity(deps, user);
    return { subject: user.email, kind: 'user', platformAdministrator: false, organizationId: user.organizationId, principalId: user.sub, sessionId: claims.sid, clientId: claims.client_id };
  };
