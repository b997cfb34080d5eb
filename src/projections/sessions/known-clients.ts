import { timingSafeEqual } from 'node:crypto';
import { clientSecretDigest } from '../../domain/application/secret.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { OAuthClient } from '../applications/queries.js';

/** Where clients are looked up and their secrets checked (the applications' read model). */
export interface ClientLookup {
  client(clientId: string): Promise<OAuthClient | undefined>;
  authenticateClient(clientId: string, secret: string): Promise<OAuthClient | undefined>;
}

/** How many authenticated clients are remembered by default. */
export const KNOWN_CLIENTS_KEPT = 10_000;

interface Entry {
  /** The SHA-256 of the secret that authenticated the client (the secret itself is not kept). */
  readonly digest: Buffer;
  readonly client: OAuthClient;
}

const frozen = (client: OAuthClient): OAuthClient => {
  for (const value of Object.values(client)) if (typeof value === 'object' && value !== null) Object.freeze(value);
  return Object.freeze(client);
};

/**
 * The client authentications of the token, revocation and introspection endpoints,
 * remembered: a confidential client that proved its secret is kept (its id, the
 * SHA-256 of that secret and what the read model said of it), so the same client
 * presenting the same secret again costs one SHA-256 and a constant-time compare,
 * not a read-model lookup (a `structuredClone` of the application).
 *
 * Only successes are kept; anything else (another secret, an unknown client) goes to
 * the read model, as before. It is fed by the projection runner (`observe`), like
 * the live-token cache: any application event (updated, disabled, secret rotated,
 * deleted) drops that client right after the read models applied it and before
 * any writer waiting for it is answered, so the next request sees exactly what the
 * read model sees. An authentication resolved from the read model while an
 * application event was being applied is not kept (an epoch taken before).
 */
export class KnownClients implements ClientLookup {
  private readonly entries = new Map<string, Entry>();
  /** Bumped by every application event: a lookup resolved across one is not remembered. */
  private epoch = 0;

  constructor(
    private readonly directory: ClientLookup,
    private readonly capacity: number = KNOWN_CLIENTS_KEPT,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Not remembered: only authentications are. */
  client(clientId: string): Promise<OAuthClient | undefined> {
    return this.directory.client(clientId);
  }

  async authenticateClient(clientId: string, secret: string): Promise<OAuthClient | undefined> {
    const digest = Buffer.from(clientSecretDigest(secret), 'hex');
    const known = this.entries.get(clientId);
    if (known && timingSafeEqual(digest, known.digest)) return known.client;
    const mark = this.epoch;
    const client = await this.directory.authenticateClient(clientId, secret);
    if (client && mark === this.epoch && this.capacity > 0) {
      this.entries.delete(clientId);
      while (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(clientId, { digest, client: frozen(client) });
    }
    return client;
  }

  /** An event the read models just applied: an application's drops what was remembered of it. */
  observe = (event: RecordedEvent): void => {
    if (!event.type.startsWith('application.')) return;
    this.epoch += 1;
    const data = event.data as Record<string, unknown> | undefined;
    const applicationId = typeof data?.applicationId === 'string' ? data.applicationId : undefined;
    if (applicationId === undefined) this.entries.clear();
    else this.entries.delete(applicationId);
  };

  /** Forget everything (the read models were replaced). */
  clear(): void {
    this.epoch += 1;
    this.entries.clear();
  }
}
