import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { SecretSealer } from '../../infra/secrets/sealer.js';
import type { IdempotencyStore } from '../../ports/idempotency.js';
import type { Caller } from '../auth/caller.js';
import { ConflictHttpError, HttpError, InvalidRequestError } from './errors.js';

/** The header of draft-ietf-httpapi-idempotency-key-header. */
export const IDEMPOTENCY_KEY = 'Idempotency-Key';
/** A replayed answer says so. */
export const REPLAYED = 'Idempotent-Replayed';

/** How long an answer is kept for retries. */
export const RETAIN_MS = 24 * 60 * 60 * 1000;
/** How long an answer holding a one-time secret (a client secret, a token, a temporary password) is kept. */
export const SECRET_RETAIN_MS = 10 * 60 * 1000;
/** A claim whose request has not finished after this long was left by a crash: a retry takes it over. */
const PENDING_LEASE_MS = 60 * 1000;
/** Purge old records at most this often. */
const PURGE_EVERY_MS = 60 * 1000;

const KEY = /^[\x21-\x7e]{1,255}$/;

export class IdempotencyKeyReusedError extends HttpError {
  constructor() {
    super(422, 'invalid_request', 'this Idempotency-Key was used with a different request; use a new key for a new request');
  }
}

export interface RenderedReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

/** A JSON value with its object keys sorted, so that equal bodies hash equally (bodies are at most 32 levels deep). */
const canonical = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(canonical)
    : value !== null && typeof value === 'object'
      ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])]))
      : value;

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/**
 * Idempotent POSTs: the first request with a key runs and its answer is kept;
 * a retry with the same key and body gets that answer again (with
 * `Idempotent-Replayed: true`), never a second effect. Keys are scoped to the
 * caller, so one caller's key says nothing to another. Stored answers are
 * sealed at rest; one holding a one-time secret is dropped after 10 minutes, and
 * a later retry gets a 409 saying so.
 */
export class Idempotency {
  private lastPurge = 0;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly sealer: SecretSealer,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Run `handle` at most once for this request's key; without a key, just run it. */
  async run(req: Request, caller: Caller, options: { oneTimeSecret: boolean }, handle: () => Promise<RenderedReply>): Promise<RenderedReply> {
    const key = req.get(IDEMPOTENCY_KEY);
    if (key === undefined) return handle();
    if (!KEY.test(key)) throw new InvalidRequestError(`${IDEMPOTENCY_KEY} must be 1 to 255 visible ASCII characters`);
    const now = this.clock();
    await this.purgeNowAndThen(now);
    // The organization a route without one in its path acts in is part of the request too (X-Organization-ID, docs/compat.md).
    const organization = req.get('X-Organization-ID');
    const scope = sha256(JSON.stringify([caller.kind, caller.principalId ?? caller.subject, req.method, req.originalUrl, key, ...(organization !== undefined ? [organization] : [])]));
    const requestHash = sha256(JSON.stringify(canonical(req.body ?? null)));
    const claim = await this.store.claim(scope, requestHash, now, now - RETAIN_MS, now - PENDING_LEASE_MS);
    if (!claim.claimed) {
      const { record } = claim;
      if (record.requestHash !== requestHash) throw new IdempotencyKeyReusedError();
      if (record.state === 'pending') throw new ConflictHttpError(`a request with this ${IDEMPOTENCY_KEY} is still being processed; retry later`);
      if (record.bodyExpiresAt !== undefined && record.sealedBody === undefined) {
        throw new ConflictHttpError(
          `the request with this ${IDEMPOTENCY_KEY} succeeded (status ${record.status}), but its answer held a one-time secret, kept only ${SECRET_RETAIN_MS / 60_000} minutes; read the resource, or rotate the secret`,
        );
      }
      return {
        status: record.status,
        headers: { ...record.headers, [REPLAYED]: 'true' },
        ...(record.sealedBody !== undefined && { body: JSON.parse(this.sealer.open(record.sealedBody, `idempotency:${scope}`)) as unknown }),
      };
    }
    let reply: RenderedReply;
    try {
      reply = await handle();
    } catch (error) {
      // A failed request had no effect to protect: a retry runs it again.
      await this.store.release(scope);
      throw error;
    }
    await this.store.complete(scope, {
      status: reply.status,
      headers: reply.headers,
      ...(reply.body !== undefined && { sealedBody: this.sealer.seal(JSON.stringify(reply.body), `idempotency:${scope}`) }),
      ...(options.oneTimeSecret && { bodyExpiresAt: now + SECRET_RETAIN_MS }),
    });
    return reply;
  }

  /** Erasure: forget every stored answer that mentions the person (their id), so that no copy of their data outlives them here. */
  async forgetMentions(personId: string): Promise<number> {
    if (!this.store.forget) return 0;
    return this.store.forget((scope, sealedBody) => {
      try {
        return this.sealer.open(sealedBody, `idempotency:${scope}`).includes(personId);
      } catch {
        return false;
      }
    });
  }

  private async purgeNowAndThen(now: number): Promise<void> {
    if (now - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now;
    await this.store.purge(now, now - RETAIN_MS);
  }
}
