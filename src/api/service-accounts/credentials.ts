import { timingSafeEqual } from 'node:crypto';
import { serviceAccountIdOf, tokenDigest } from '../../commands/service-account/token.js';
import type { ReadModelStore } from '../../ports/read-models.js';
import { SERVICE_ACCOUNT_CREDENTIALS, type ServiceAccountCredentialDocument } from '../../projections/service-accounts/projection.js';
import type { Caller } from '../auth/caller.js';
import type { CredentialResolver } from '../middleware/authenticate.js';

/**
 * Service account tokens as bearer tokens. The token names its account, so
 * the check is one lookup by id and a constant-time comparison of digests;
 * tokens without the prefix are left to the other resolvers. A token that
 * was rotated away, belongs to a deleted account, or has expired is refused.
 */
export const serviceAccountCredentials =
  (readModels: ReadModelStore, clock: () => Date = () => new Date()): CredentialResolver =>
  async (token): Promise<Caller | undefined> => {
    const serviceAccountId = serviceAccountIdOf(token);
    if (!serviceAccountId) return undefined;
    const credential = await readModels.collection<ServiceAccountCredentialDocument>(SERVICE_ACCOUNT_CREDENTIALS).findById(serviceAccountId);
    if (!credential) return undefined;
    const matches = timingSafeEqual(Buffer.from(tokenDigest(token), 'hex'), Buffer.from(credential.tokenSha256, 'hex'));
    if (!matches || Date.parse(credential.expiry) <= clock().getTime()) return undefined;
    return {
      subject: credential.name,
      kind: 'service_account',
      platformAdministrator: false,
      organizationId: credential.organizationId,
      principalId: serviceAccountId,
    };
  };
