import { apiKeyDecider, generateApiKey, revokeApiKey } from '../../domain/api-key/decider.js';
import { apiKeyStream } from '../../domain/api-key/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { NotFoundError } from '../../domain/shared/errors.js';
import { isUserOf, userDecider } from '../../domain/user/decider.js';
import { userStream } from '../../domain/user/events.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import { handleCommand, loadState } from '../pipeline.js';
import { issueApiKey } from './token.js';

export interface GeneratedApiKey {
  /** The key itself: answered once, never stored. */
  readonly token: string;
  readonly keyId: string;
  readonly expiresAt: string;
  readonly position?: GlobalPosition;
}

/** API keys of accounts (docs/accounts.md): one live key per account, hashed at rest, with an expiry. */
export class ApiKeyCommands {
  constructor(
    private readonly store: EventStore,
    /** How long a new key is good for (API_KEY_LIFETIME_SECONDS). */
    private readonly lifetimeSeconds: number,
  ) {}

  private async requireUser(organizationId: string, userId: string): Promise<void> {
    const { state } = await loadState(this.store, userStream(userId), userDecider);
    if (!isUserOf(state, organizationId)) throw new NotFoundError(`account ${userId} not found`);
  }

  /** A new key for the user; its live key, if any, stops working with the same append. */
  async generate(organizationId: string, userId: string, meta: CommandMetadata): Promise<GeneratedApiKey> {
    await this.requireUser(organizationId, userId);
    const { token, keyId, tokenSha256 } = issueApiKey();
    const expiresAt = new Date(meta.now.getTime() + this.lifetimeSeconds * 1000).toISOString();
    const result = await handleCommand(this.store, apiKeyStream(userId), apiKeyDecider, (state) => generateApiKey(state, { keyId, userId, organizationId, tokenSha256, expiresAt }), meta);
    return { token, keyId, expiresAt, ...(result.position !== undefined && { position: result.position }) };
  }

  /** Revoke the user's live key (none: nothing happens). */
  async revoke(organizationId: string, userId: string, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    await this.requireUser(organizationId, userId);
    return (await handleCommand(this.store, apiKeyStream(userId), apiKeyDecider, (state) => revokeApiKey(state, { userId, organizationId }), meta)).position;
  }
}
