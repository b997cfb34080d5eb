import { assertNever, type Decider } from '../shared/decider.js';
import type { ApiKeyEvent } from './events.js';

export interface ApiKeyState {
  /** The live key, if any (it may have expired: expiry is checked where the key is used). */
  readonly current?: { readonly keyId: string; readonly expiresAt: string };
}

export const apiKeyDecider: Decider<ApiKeyState, ApiKeyEvent> = {
  initialState: () => ({}),
  evolve(state, event) {
    switch (event.type) {
      case 'api_key.generated':
        return { current: { keyId: event.data.keyId, expiresAt: event.data.expiresAt } };
      case 'api_key.revoked':
        return state.current?.keyId === event.data.keyId ? {} : state;
      default:
        return assertNever(event);
    }
  },
};

export interface GenerateApiKey {
  readonly keyId: string;
  readonly userId: string;
  readonly organizationId: string;
  readonly tokenSha256: string;
  readonly expiresAt: string;
}

/** A new key; the live one, if any, is revoked in the same append (one live key per account). */
export function generateApiKey(state: ApiKeyState, command: GenerateApiKey): ApiKeyEvent[] {
  const { keyId, userId, organizationId } = command;
  return [
    ...(state.current ? [{ type: 'api_key.revoked' as const, data: { keyId: state.current.keyId, userId, organizationId, reason: 'replaced' as const } }] : []),
    { type: 'api_key.generated', data: { keyId, userId, organizationId, tokenSha256: command.tokenSha256, expiresAt: command.expiresAt } },
  ];
}

/** Revoke the live key; with none, nothing happens (a retried DELETE is not an error). */
export function revokeApiKey(state: ApiKeyState, command: { userId: string; organizationId: string }): ApiKeyEvent[] {
  if (!state.current) return [];
  return [{ type: 'api_key.revoked', data: { keyId: state.current.keyId, userId: command.userId, organizationId: command.organizationId, reason: 'revoked' } }];
}
