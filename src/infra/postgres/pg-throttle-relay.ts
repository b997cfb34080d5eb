import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { ThrottleNews, ThrottleRelay } from '../../ports/throttle-relay.js';
import { PgListener } from './pg-listener.js';

const CHANNEL = 'identity_throttle';

/**
 * The throttle relay on PostgreSQL: NOTIFY on one channel, LISTEN on a
 * dedicated connection (opened again when lost). Each message names the
 * instance that sent it, which ignores its own. Nothing is stored: an instance
 * that starts knows no earlier failures (as after a restart of one instance).
 */
export class PgThrottleRelay implements ThrottleRelay {
  private readonly instance = randomUUID();
  private readonly listeners: ((news: ThrottleNews) => void)[] = [];
  private listener: PgListener | undefined;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly connectionString: string,
    private readonly logger?: Logger,
  ) {}

  static async connect(connectionString: string, logger?: Logger): Promise<PgThrottleRelay> {
    const pool = new pg.Pool({ connectionString, max: 2, application_name: 'identity-service throttle' });
    pool.on('error', (error) => logger?.warn({ err: error }, 'throttle relay pool connection error'));
    const relay = new PgThrottleRelay(pool, connectionString, logger);
    await relay.listen();
    return relay;
  }

  private listen(): Promise<void> {
    this.listener = new PgListener({
      connectionString: this.connectionString,
      channel: CHANNEL,
      applicationName: 'identity-service throttle listener',
      ...(this.logger && { logger: this.logger }),
      onNotification: (payload) => this.heard(payload),
    });
    return this.listener.start();
  }

  /** Another instance's news (its own is passed over); anything malformed is dropped. */
  private heard(payload: string): void {
    let parsed: { i?: unknown; k?: unknown; a?: unknown; s?: unknown; f?: unknown };
    try {
      parsed = JSON.parse(payload) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.i === this.instance || (parsed.k !== 'failed' && parsed.k !== 'succeeded') || typeof parsed.a !== 'string' || typeof parsed.s !== 'string') return;
    const f = parsed.f;
    const freeFailures = typeof f === 'number' && Number.isInteger(f) && f >= 1 && f <= 100 ? f : undefined;
    const news: ThrottleNews = { kind: parsed.k, account: parsed.a, source: parsed.s, ...(freeFailures !== undefined && { freeFailures }) };
    for (const listener of this.listeners) listener(news);
  }

  publish(news: ThrottleNews): void {
    if (this.closed) return;
    const payload = JSON.stringify({ i: this.instance, k: news.kind, a: news.account, s: news.source, f: news.freeFailures });
    // NOTIFY payloads are limited to 8000 bytes; an account that long is not news worth sharing.
    if (Buffer.byteLength(payload) > 7900) return;
    this.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]).catch((error: unknown) => this.logger?.warn({ err: error }, 'throttle relay: could not publish'));
  }

  subscribe(listener: (news: ThrottleNews) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.listener?.close();
    await this.pool.end();
  }
}
