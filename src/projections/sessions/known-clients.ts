import { createHash, timingSafeEqual } from 'node:crypto';
import { clientSecretDigest } from '../../domain/application/secret.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { OAuthClient } from '../applications/queries.js';

/** Where clients are looked up and their secrets checked (the applications' read model). */
export interface ClientLookup {
  client(clientId: string): Promise<OAuthClient | undefined>;
  /** With `basicHeader`: the Authorization header the id and secret were decoded from (KnownClients remembers it). */
  authenticateClient(clientId: string, secret: string, basicHeader?: string): Promise<OAuthClient | undefined>;
}

/** How many authenticated clients are remembered by default. */
export const KNOWN_CLIENTS_KEPT = 10_000;

interface Entry {
  /** The SHA-256 of the secret that authenticated the client. */
  readonly digest: Buffer;
  readonly client: OAuthClient;
}

/** A Basic Authorization header value that authenticated a client: good while that client's entry is the one it proved. */
interface BasicHeader {
  readonly clientId: string;
  readonly entry: Entry;
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
 *
 * A client_secret_basic client sends the same Authorization header on every
 * request: the SHA-256 digests of the header values that authenticated a remembered
 * client are kept too (as many as clients), so that header again costs one SHA-256
 * and one Map lookup, not its base64 and percent decoding, a digest of the secret and
 * a compare. A header is good only while the entry it proved is still the client's
 * (any event of the application drops that entry and every header of that client).
 * Only digests are kept: no secret stays in memory beyond the request that carried it.
 */
/** What a Basic header is remembered by: its digest, never the header (it carries the secret). */
const headerKey = (header: string): string => createHash('sha256').update(header).digest('base64');

export class KnownClients implements ClientLookup {
  private readonly entries = new Map<string, Entry>();
  private readonly basicHeaders = new Map<string, BasicHeader>();
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

  /** The client (and the id it was authenticated as) this exact Basic Authorization header authenticated, while that still holds. */
  basicAuthenticated(header: string): { readonly clientId: string; readonly client: OAuthClient } | undefined {
    const key = headerKey(header);
    const seen = this.basicHeaders.get(key);
    if (!seen) return undefined;
    if (this.entries.get(seen.clientId) === seen.entry) return { clientId: seen.clientId, client: seen.entry.client };
    this.basicHeaders.delete(key);
    return undefined;
  }

  async authenticateClient(clientId: string, secret: string, basicHeader?: string): Promise<OAuthClient | undefined> {
    const digest = Buffer.from(clientSecretDigest(secret), 'hex');
    const known = this.entries.get(clientId);
    if (known && timingSafeEqual(digest, known.digest)) {
      if (basicHeader !== undefined) this.rememberHeader(basicHeader, clientId, known);
      return known.client;
    }
    const mark = this.epoch;
    const client = await this.directory.authenticateClient(clientId, secret);
    if (client && mark === this.epoch && this.capacity > 0) {
      this.entries.delete(clientId);
      while (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
      const entry: Entry = { digest, client: frozen(client) };
      this.entries.set(clientId, entry);
      if (basicHeader !== undefined) this.rememberHeader(basicHeader, clientId, entry);
    }
    return client;
  }

  private rememberHeader(header: string, clientId: string, entry: Entry): void {
    const key = headerKey(header);
    this.basicHeaders.delete(key);
    while (this.basicHeaders.size >= this.capacity) this.basicHeaders.delete(this.basicHeaders.keys().next().value!);
    this.basicHeaders.set(key, { clientId, entry });
  }

  /** An event the read models just applied: an application's drops what was remembered of it. */
  observe = (event: RecordedEvent): void => {
    if (!event.type.startsWith('application.')) return;
    this.epoch += 1;
    const data = event.data as Record<string, unknown> | undefined;
    const applicationId = typeof data?.applicationId === 'string' ? data.applicationId : undefined;
    if (applicationId === undefined) return this.clear();
    this.entries.delete(applicationId);
    // Application events are rare: a walk over the headers drops this client's at once.
    for (const [key, seen] of this.basicHeaders) if (seen.clientId === applicationId) this.basicHeaders.delete(key);
  };

  /** Forget everything (the read models were replaced). */
  clear(): void {
    this.epoch += 1;
    this.entries.clear();
    this.basicHeaders.clear();
  }
}
