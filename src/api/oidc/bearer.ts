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
 * checkedToken, answered without awaiting anything when the token is remembered (the usual case
 * on the hot paths: every promise costs there, the async context's hooks run for each).
 */
export const rememberedOrChecked = (deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users' | 'liveTokens'>, token: string): LiveTokenFacts | undefined | Promise<LiveTokenFacts | undefined> =>
  deps.liveTokens.get(token) ?? checkedToken(deps, token);

/**
 * A bearer access token's facts, if it is good (checkedToken) and presented with the
 * certificate it is bound to (if any).
 */
export async function liveToken(deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users' | 'liveTokens'>, token: string, certificate: PresentedCertificate | undefined) {
  const facts = await checkedToken(deps, token);
  return facts && certificateBindingHolds(facts.claims, certificate) ? facts : undefined;
}

/**
 * Each use of a user's token counts as the user's activity (throttled in the token service: one
 * event a minute at most). While it is throttled there is no call to make, and no promise.
 */
const recordActivity = (deps: Pick<OidcDependencies, 'tokens'>, user: LiveUser): Promise<unknown> | undefined =>
  deps.tokens.activityThrottled(user.sub) ? undefined : deps.tokens.recordActivity({ userId: user.sub, organizationId: user.organizationId, subject: user.email });

/** A bearer access token that speaks for a user: its claims and the user. */
export interface UserToken {
  readonly claims: LiveTokenFacts['claims'];
  readonly user: LiveUser;
}

/** The user a token's facts speak for, if the token is presented as it is bound and the user is active; the user's activity recorded. */
const userOfToken = (
  deps: Pick<OidcDependencies, 'tokens'>,
  live: LiveTokenFacts | undefined,
  certificateOf: () => PresentedCertificate | undefined,
): UserToken | undefined | Promise<UserToken | undefined> => {
  const bound = live !== undefined && (live.claims.cnf === undefined || certificateBindingHolds(live.claims, certificateOf()));
  const user = bound && live.session.subjectKind === 'user' ? live.user : undefined;
  if (!user) return undefined;
  const found: UserToken = { claims: live!.claims, user };
  const recording = recordActivity(deps, user);
  return recording ? recording.then(() => found) : found;
};

/**
 * The user behind a bearer access token, if the token and the user are still good. Answered
 * without a promise when the token is remembered and the user's activity needs no event (the
 * usual case for userinfo: each promise costs there, the async context's hooks run for it). The
 * request's certificate is asked for only for a token bound to one.
 */
export function resolveUserToken(
  deps: Pick<OidcDependencies, 'tokens' | 'sessions' | 'users' | 'liveTokens'>,
  token: string,
  certificateOf: () => PresentedCertificate | undefined,
): UserToken | undefined | Promise<UserToken | undefined> {
  const found = rememberedOrChecked(deps, token);
  return found instanceof Promise ? found.then((live) => userOfToken(deps, live, certificateOf)) : userOfToken(deps, found, certificateOf);
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
    const recording = recordActivity(deps, user);
    if (recording) await recording;
    return { subject: user.email, kind: 'user', platformAdministrator: false, organizationId: user.organizationId, principalId: user.sub, sessionId: claims.sid, clientId: claims.client_id };
  };
