import type { Request } from 'express';
import type { BlockList } from 'node:net';
import { isIP } from 'node:net';
import type { ThrottleLimit } from '../../domain/login-flow/events.js';
import { FailureDelays } from '../../infra/throttle/failure-delays.js';
import { TokenBuckets } from '../../infra/throttle/token-buckets.js';
import type { ThrottleRelay } from '../../ports/throttle-relay.js';

export interface ThrottlePolicy {
  /** Password requests (login, password change) one source address may make per minute (also the burst). */
  readonly sourceRequestsPerMinute: number;
  /** Token-endpoint requests one source address may make per minute (also the burst): a client's backend refreshes for all its users. */
  readonly tokenRequestsPerMinute: number;
  /** Failures for one account from one source before each further one doubles the wait (1 s, 2 s, 4 s, ...). */
  readonly sourceFreeFailures: number;
  /** Failures for one account from all sources it has not signed in from, before they all wait too. */
  readonly accountFreeFailures: number;
  /** The longest wait, in seconds. */
  readonly maxDelaySeconds: number;
}

export type ThrottleVerdict = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number; readonly limit: ThrottleLimit };

/** The longest wait failures from many addresses impose on an account's new addresses. */
export const ACCOUNT_MAX_DELAY_SECONDS = 60;
/** Sources an account signed in from recently, kept per account (bounded). */
const KNOWN_SOURCES_PER_ACCOUNT = 8;
const MAX_ACCOUNTS = 100_000;

/**
 * Who may try a password now, in memory per instance.
 *
 * - Each source address has a token bucket for password and token requests.
 * - Failures slow down the (account, source) pair that made them: a few are
 *   free, then each doubles the wait. The real user, at another address, is
 *   not slowed by an attacker's failures.
 * - Failures for an account from sources it never signed in from also add up
 *   per account, so that many addresses together are slowed as well; a source
 *   the account signed in from recently is exempt from that shared delay.
 *
 * An "account" is the typed email in an organization, whether or not it
 * exists, so a throttled unknown email and a throttled real one look the same.
 * Nothing is ever locked: every delay ends by itself.
 */
export class LoginThrottle {
  private readonly sources: TokenBuckets;
  private readonly tokenSources: TokenBuckets;
  private readonly pairs: FailureDelays;
  private readonly accounts: FailureDelays;
  private readonly knownSources = new Map<string, string[]>();
  /** Each connection's peer, decided once (sourceOf). */
  private readonly peers = new WeakMap<object, Peer>();

  constructor(
    policy: ThrottlePolicy,
    /** The proxies (TRUSTED_PROXIES) whose X-Forwarded-For names the client's address. */
    private readonly trustedProxies?: BlockList,
    private readonly clock: () => number = Date.now,
    /** Several instances (docs/cluster.md): failures and successes are shared through it; request rates stay per instance. */
    private readonly relay?: ThrottleRelay,
  ) {
    this.sources = new TokenBuckets(policy.sourceRequestsPerMinute, policy.sourceRequestsPerMinute / 60);
    this.tokenSources = new TokenBuckets(policy.tokenRequestsPerMinute, policy.tokenRequestsPerMinute / 60);
    this.pairs = new FailureDelays(policy.sourceFreeFailures, policy.maxDelaySeconds);
    // The shared delay also falls on the real user at a new address: it stays short, however long the attack.
    this.accounts = new FailureDelays(policy.accountFreeFailures, Math.min(policy.maxDelaySeconds, ACCOUNT_MAX_DELAY_SECONDS));
    relay?.subscribe((news) => (news.kind === 'failed' ? this.recordFailure(news.account, news.source, news.freeFailures) : this.recordSuccess(news.account, news.source)));
  }

  /**
   * The address limits count: the TCP peer's; behind a proxy in TRUSTED_PROXIES,
   * the right-most X-Forwarded-For address that is not itself a trusted proxy
   * (what the nearest proxy saw; what a client wrote further left may be forged).
   * From any other peer, X-Forwarded-For is ignored.
   */
  sourceOf(req: Request): string {
    const { peer, trusted } = this.peerOf(req.socket);
    if (!trusted) return peer;
    const forwarded = (req.get('x-forwarded-for') ?? '').split(',').map((part) => plain(part.trim())).filter((part) => isIP(part) !== 0);
    for (let i = forwarded.length - 1; i >= 0; i--) if (!this.isTrusted(forwarded[i]!)) return forwarded[i]!;
    return peer;
  }

  /**
   * The TCP peer's address and whether it is a trusted proxy: decided once per
   * connection (a socket's peer does not change), not on every request.
   */
  private peerOf(socket: Request['socket']): Peer {
    let known = this.peers.get(socket);
    if (known === undefined) {
      const peer = plain(socket.remoteAddress ?? 'unknown');
      known = { peer, trusted: this.trustedProxies !== undefined && this.isTrusted(peer) };
      // A socket without its address yet (not connected) is not remembered.
      if (socket.remoteAddress !== undefined) this.peers.set(socket, known);
    }
    return known;
  }

  private isTrusted(address: string): boolean {
    const version = isIP(address);
    return version !== 0 && this.trustedProxies!.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }

  /** A password request from this source: within its rate? (Spends a token.) */
  request(source: string): ThrottleVerdict {
    return verdictOf(this.sources.take(source, this.clock()));
  }

  /** A token-endpoint request from this source: within its rate? */
  tokenRequest(source: string): ThrottleVerdict {
    return verdictOf(this.tokenSources.take(source, this.clock()));
  }

  /** May this source try a password for this account now? */
  attempt(account: string, source: string): ThrottleVerdict {
    const now = this.clock();
    const pair = this.pairs.waitSeconds(pairKey(account, source), now);
    if (pair > 0) return { allowed: false, retryAfterSeconds: pair, limit: 'account_source_delay' };
    if (!this.isKnown(account, source)) {
      const shared = this.accounts.waitSeconds(account, now);
      if (shared > 0) return { allowed: false, retryAfterSeconds: shared, limit: 'account_delay' };
    }
    return { allowed: true };
  }

  /**
   * A wrong password. `freeFailures`: the account's organization's
   * maximum_password_attempts (its password policy), in place of
   * THROTTLE_SOURCE_FREE_FAILURES: that many failures from one source are free,
   * then each further one doubles the wait. It depends on the organization
   * only, so an unknown email is slowed down exactly as a real one.
   */
  failed(account: string, source: string, freeFailures?: number): void {
    this.recordFailure(account, source, freeFailures);
    this.relay?.publish({ kind: 'failed', account, source, ...(freeFailures !== undefined && { freeFailures }) });
  }

  succeeded(account: string, source: string): void {
    this.recordSuccess(account, source);
    this.relay?.publish({ kind: 'succeeded', account, source });
  }

  private recordFailure(account: string, source: string, freeFailures?: number): void {
    const now = this.clock();
    this.pairs.failed(pairKey(account, source), now, freeFailures);
    if (!this.isKnown(account, source)) this.accounts.failed(account, now);
  }

  private recordSuccess(account: string, source: string): void {
    this.pairs.succeeded(pairKey(account, source));
    const known = (this.knownSources.get(account) ?? []).filter((s) => s !== source);
    this.knownSources.delete(account);
    this.knownSources.set(account, [source, ...known].slice(0, KNOWN_SOURCES_PER_ACCOUNT));
    if (this.knownSources.size > MAX_ACCOUNTS) this.knownSources.delete(this.knownSources.keys().next().value!);
  }

  /** Whether the account signed in from this source recently (its password checks go first when the service is busy). */
  isKnown(account: string, source: string): boolean {
    return this.knownSources.get(account)?.includes(source) ?? false;
  }
}

interface Peer {
  readonly peer: string;
  readonly trusted: boolean;
}

/** ::ffff:127.0.0.1 is 127.0.0.1. */
const plain = (address: string): string => /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;

const verdictOf = (taken: { ok: true } | { ok: false; retryAfterSeconds: number }): ThrottleVerdict =>
  taken.ok ? { allowed: true } : { allowed: false, retryAfterSeconds: taken.retryAfterSeconds, limit: 'source_rate' };

/** The key of an account: the email as typed (case aside) in one organization. */
export const accountKey = (organizationId: string, email: string): string => `${organizationId}\u0000${email.trim().toLowerCase()}`;

const pairKey = (account: string, source: string) => `${account}\u0000${source}`;
