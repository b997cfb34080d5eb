import type { UpstreamIdentity } from '../../infra/oidc-rp/upstream.js';
import type { RouteReply } from '../http/route.js';
import type { Onboarding } from './onboarding.js';
import type { PendingAuthorization } from './login-routes.js';
import { redirectWithParameters } from './shared.js';

/**
 * The one place a federated login ends when the upstream identity matches no
 * account: no linked pair, and no user of the organization with the
 * upstream's verified email. Today the client gets `access_denied` ("no
 * account"). Onboarding (a hand-off to the application's onboardingURI with a
 * sealed state, when the platform allows account creation) plugs in here.
 */
export async function unknownFederatedUser(context: {
  readonly pending: PendingAuthorization;
  readonly identity: UpstreamIdentity;
  /** The organization the login was for, when one was known. */
  readonly organizationId?: string;
  /** Our issuer, for RFC 9207's iss. */
  readonly issuer: string;
  readonly providerID: string;
  readonly client?: { platform: boolean; onboardingURI?: string };
  /** Set when FEDERATED_ONBOARDING allows account creation. */
  readonly onboarding?: Onboarding;
}): Promise<RouteReply> {
  const { pending, issuer, identity, providerID, client, onboarding } = context;
  const handOff = onboarding && client && (await onboarding.handOff({ pending, identity, providerID, client }));
  if (handOff) return handOff;
  return redirectWithParameters(pending.redirect_uri, { error: 'access_denied', error_description: 'no account', state: pending.state, iss: issuer });
}
