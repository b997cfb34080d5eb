import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Lease, LeaseListener, Leases } from '../../ports/lease.js';

export interface PgLeaseOptions {
  /** How often a lease not held is tried again, and the connection checked (about 1 s). */
  readonly retryMs?: number;
  /** `job`: a lock per job, so jobs spread over instances; `all`: one lock for every job (one instance runs them all). */
  readonly scope?: 'job' | 'all';
  readonly logger?: Logger;
}

/** The advisory lock key of a lease: the first 8 bytes of SHA-256 of its name, as a signed bigint. */
export const advisoryKey = (name: string): string =>
  createHash('sha256').update(`identity-service:lease:${name}`).digest().readBigInt64BE(0).toString();

const ALL_JOBS = 'all-jobs';
/** How many retry periods an instance that lost a lease with its connection waits before trying it again. */
const LOST_BACKOFF_ROUNDS = 3;

interface Entry {
  readonly name: string;
  readonly key: string;
  listener?: LeaseListener;
  held: boolean;
  closed: boolean;
  /** After a lease was lost with its connection, not tried again before this time (ms): the others go first. */
  notBefore?: number;
  /** Resolves the promise `start` returned, once a round has tried this lease (or failed to). */
  firstAttempt?: () => void;
}

/**
 * Leases on PostgreSQL (docs/cluster.md): a session-level `pg_try_advisory_lock`
 * per lease, on one dedicated connection per instance. The lock is the
 * session's: when the holder's process dies (SIGKILL, a lost network), its
 * connection ends and PostgreSQL frees the lock, and another instance's next
 * try (every ~1 s) takes it. A connection that fails a check ends every lease
 * this instance held (the jobs stop at once) and is opened again.
 */
export class PgLeases implements Leases {
  private readonly entries = new Map<string, Entry>();
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private closed = false;
  private readonly retryMs: number;
  private readonly scope: 'job' | 'all';

  constructor(
    private readonly connectionString: string,
    private readonly options: PgLeaseOptions = {},
  ) {
    this.retryMs = options.retryMs ?? 1000;
    this.scope = options.scope ?? 'job';
  }

  lease(name: string): Lease {
    const lockName = this.scope === 'all' ? ALL_JOBS : name;
    const entry: Entry = { name, key: advisoryKey(lockName), held: false, closed: false };
    this.entries.set(name, entry);
    return {
      name,
      get held() {
        return entry.held;
      },
      start: (listener) => {
        entry.listener = listener;
        const first = new Promise<void>((resolve) => (entry.firstAttempt = resolve));
        this.schedule(0);
        return first;
      },
      close: async () => {
        entry.closed = true;
        await this.ticking;
        await this.release(entry);
        this.entries.delete(name);
      },
    };
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.ticking ??= this.tick().finally(() => {
        this.ticking = undefined;
        this.schedule(this.retryMs);
      });
    }, delayMs);
    // The retries must not keep a stopping process alive; but while a start() waits for its first try, the timer is all
    // that will settle it, so it holds the process until then.
    if (![...this.entries.values()].some((entry) => entry.firstAttempt)) this.timer.unref();
  }

  /** One round: check the connection, try every lease not held. */
  private async tick(): Promise<void> {
    const tried: Entry[] = [];
    try {
      const client = await this.connection();
      // With one lock for all jobs, the first entry's try decides; the others follow it (the lock is re-entrant per session).
      let anyTried = false;
      for (const entry of [...this.entries.values()]) {
        if (entry.closed || !entry.listener || entry.held) continue;
        if (entry.notBefore !== undefined && Date.now() < entry.notBefore) continue;
        anyTried = true;
        tried.push(entry);
        const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS got', [entry.key]);
        if (rows[0]?.got && !this.closed && !entry.closed) {
          entry.held = true;
          this.options.logger?.info({ lease: entry.name }, 'lease acquired');
          try {
            await entry.listener.acquired();
          } catch (error) {
            this.options.logger?.error({ err: error, lease: entry.name }, 'starting a leased job failed; giving the lease up');
            await this.release(entry);
          }
        } else if (rows[0]?.got) {
          await client.query('SELECT pg_advisory_unlock($1::bigint)', [entry.key]);
        }
      }
      if (!anyTried) await client.query('SELECT 1');
    } catch (error) {
      if (!this.closed) this.options.logger?.warn({ err: error }, 'lease connection failed; every lease held here is lost');
      tried.push(...[...this.entries.values()].filter((entry) => entry.listener));
      await this.dropConnection();
    } finally {
      for (const entry of tried) {
        entry.firstAttempt?.();
        entry.firstAttempt = undefined;
      }
    }
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: `identity-service lease pid=${process.pid}`,
      keepAlive: true,
      query_timeout: Math.max(5 * this.retryMs, 3000),
      connectionTimeoutMillis: 5000,
    });
    // An error between queries: the next round finds it and drops the connection.
    client.on('error', (error) => {
      this.options.logger?.warn({ err: error }, 'lease connection error');
      void this.dropConnection();
    });
    await client.connect();
    this.client = client;
    return client;
  }

  /** The session is gone (or going): its locks with it. Every job that ran under one stops. */
  private async dropConnection(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    for (const entry of this.entries.values()) {
      if (!entry.held) continue;
      entry.held = false;
      // An instance whose connection died is the suspect one (a network partition, an overloaded process): it waits a few
      // rounds before trying again, so a healthy instance takes the job over rather than the one that just lost it.
      entry.notBefore = Date.now() + LOST_BACKOFF_ROUNDS * this.retryMs;
      this.options.logger?.warn({ lease: entry.name }, 'lease lost');
      try {
        await entry.listener?.lost();
      } catch (error) {
        this.options.logger?.error({ err: error, lease: entry.name }, 'stopping a leased job failed');
      }
    }
    await client?.end().catch(() => undefined);
  }

  private async release(entry: Entry): Promise<void> {
    if (!entry.held) return;
    entry.held = false;
    try {
      await entry.listener?.lost();
    } finally {
      await this.client?.query('SELECT pg_advisory_unlock($1::bigint)', [entry.key]).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.ticking;
    for (const entry of this.entries.values()) {
      entry.closed = true;
      await this.release(entry);
    }
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
