/** A stored answer to a request made with an Idempotency-Key. */
export interface StoredResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON body, sealed at rest; undefined once a one-time secret in it was dropped. */
  readonly sealedBody?: string;
  /** When the body had a one-time secret: the time after which it is dropped (ms since the epoch). */
  readonly bodyExpiresAt?: number;
}

export type IdempotencyRecord =
  | { readonly state: 'pending'; readonly requestHash: string; readonly createdAt: number }
  | ({ readonly state: 'done'; readonly requestHash: string; readonly createdAt: number } & StoredResponse);

export type ClaimResult = { readonly claimed: true } | { readonly claimed: false; readonly record: IdempotencyRecord };

/**
 * Where Idempotency-Key records live: one per scope (caller, method, path, key).
 * A claim is atomic: of two concurrent requests with the same scope, one
 * claims it and the other sees the record.
 */
export interface IdempotencyStore {
  /**
   * Claim the scope for a request, unless a record newer than `retainSince`
   * holds it (a pending claim older than `pendingSince` was left by a crash and
   * is taken over).
   */
  claim(scope: string, requestHash: string, now: number, retainSince: number, pendingSince: number): Promise<ClaimResult>;
  /** The request finished: keep its answer. */
  complete(scope: string, response: StoredResponse): Promise<void>;
  /** The request failed: forget the claim, so a retry runs again. */
  release(scope: string): Promise<void>;
  /** Drop records older than `retainSince`, and bodies past their expiry. */
  purge(now: number, retainSince: number): Promise<void>;
  /** Erasure: drop every record whose stored answer `mentions` says is about the person (docs/crypto-shredding.md); answers how many. */
  forget?(mentions: (scope: string, sealedBody: string) => boolean): Promise<number>;
  close(): Promise<void>;
}
