import { timingSafeEqual } from 'node:crypto';
import { apiKeyDigest, apiKeyIdOf } from '../../commands/api-key/token.js';
import type { ReadModelStore } from '../../ports/read-models.js';
import { API_KEY_CREDENTIALS, type ApiKeyCredentialDocument } from '../../projections/api-keys/projection.js';
import { USERS, type UserDocument } from '../../projections/users/projection.js';
import type { Caller } from '../auth/caller.js';
import type { CredentialResolver } from './authenticate.js';

/**
 * Accounts' API keys as bearer tokens (docs/accounts.md). The token names its
 * key, so the check is one lookup by id and a constant-time comparison of
 * digests; tokens without the `ak_` prefix are left to the other resolvers.
 * A replaced, revoked or expired key, or one whose account is deleted, not
 * active, or no longer in the key's organization, is refused (401). The
 * caller is the account's user: it acts with the user's roles.
 */
export const apiKeyCredentials =
  (
    readModels: ReadModelStore,
    /** Told of every accepted key: the account's last access (bounded, as for logins). */
    onUse: (user: { userId: string; organizationId: string; subject: string }) => void = () => {},
    clock: () => Date = () => new Date(),
  ): CredentialResolver =>
  async (token): Promise<Caller | undefined> => {
    const keyId = apiKeyIdOf(token);
    if (!keyId) return undefined;
    const credential = await readModels.collection<ApiKeyCredentialDocument>(API_KEY_CREDENTIALS).findById(keyId);
    if (!credential) return undefined;
    const matches = timingSafeEqual(Buffer.from(apiKeyDigest(token), 'hex'), Buffer.from(credential.tokenSha256, 'hex'));
    if (!matches || Date.parse(credential.expiresAt) <= clock().getTime()) return undefined;
    const user = await readModels.collection<UserDocument>(USERS).findById(credential.userId);
    if (!user || user.metadata.organizationId !== credential.organizationId || user.spec.state !== 'active') return undefined;
    if (user.account?.apiKeyId !== keyId) return undefined;
    onUse({ userId: user.metadata.id, organizationId: user.metadata.organizationId, subject: user.spec.subject });
    return {
      subject: user.spec.subject,
      kind: 'user',
      platformAdministrator: false,
      organizationId: user.metadata.organizationId,
      principalId: user.metadata.id,
    };
  };
