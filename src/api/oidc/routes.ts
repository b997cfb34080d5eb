import { discoveryRoutes } from './discovery-routes.js';
import { loginRoutes } from './login-routes.js';
import type { OidcDependencies } from './shared.js';
import { tokenRoutes } from './token-routes.js';

export { accessTokenCredential } from './bearer.js';
export type { OidcDependencies } from './shared.js';

/** Every route of the OIDC provider. */
export function oidcRoutes(deps: OidcDependencies) {
  return [...discoveryRoutes(deps), ...loginRoutes(deps), ...tokenRoutes(deps)];
}
