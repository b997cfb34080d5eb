import type { Caller } from '../auth/caller.js';
import { ForbiddenHttpError, InvalidRequestError, NotFoundHttpError } from '../http/errors.js';

/**
 * The header a platform administrator names the organization with on the
 * routes that have no organization in their path (the compatible APIs,
 * docs/compat.md): the organization's id, or its numeric tenant number.
 */
export const ORGANIZATION_HEADER = 'X-Organization-ID';

const TENANT_NUMBER = /^[1-9]\d{0,9}$/;

/**
 * The organization a route without one in its path acts in: the caller's own.
 * A platform administrator belongs to none and must name it in the
 * X-Organization-ID header; anyone else may send the header only to name
 * their own organization (any other is a 403, as on the seed 004 paths).
 */
export async function resolveCallerOrganization(
  caller: Caller,
  header: string | undefined,
  organizationOfTenant: (tenantId: number) => Promise<string | undefined>,
): Promise<string> {
  const named = header?.trim();
  if (caller.platformAdministrator) {
    if (!named) throw new InvalidRequestError(`a platform administrator names the organization in the ${ORGANIZATION_HEADER} header (its id or tenant number)`);
    if (named.length > 128) throw new InvalidRequestError(`${ORGANIZATION_HEADER}: too long`);
    if (!TENANT_NUMBER.test(named)) return named;
    const organizationId = await organizationOfTenant(Number(named));
    if (!organizationId) throw new NotFoundHttpError(`no organization has tenant number ${named}`);
    return organizationId;
  }
  const own = caller.organizationId;
  if (!own) throw new ForbiddenHttpError('the caller belongs to no organization');
  if (named && named !== own) {
    // A tenant number is compared by what it names; never say whether another exists.
    const organizationId = TENANT_NUMBER.test(named) ? await organizationOfTenant(Number(named)) : named;
    if (organizationId !== own) throw new ForbiddenHttpError('a caller acts in its own organization only');
  }
  return own;
}
