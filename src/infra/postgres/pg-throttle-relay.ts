import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { ThrottleNews, ThrottleRelay } from '../../ports/throttle-relay.js';

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
  private listener: pg.Client | undefined;
  private reconnect: NodeJS.Timeout | undefined;
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

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: 'identity-service throttle listener', keepAlive: true });
    const lost = (error?: unknown) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      if (error) this.logger?.warn({ err: error }, 'throttle relay listener lost; reconnecting');
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.reconnect = setTimeout(() => void this.listen().catch((e: unknown) => this.logger?.warn({ err: e }, 'throttle relay: could not listen')), 1000);
      this.reconnect.unref();
    };
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      let parsed: { i?: unknown; k?: unknown; a?: unknown; s?: unknown; f?: unknown };
      try {
        parsed = JSON.parse(message.payload) as typeof parsed;
      } catch {
        return;
      }
      if (parsed.i === this.instance || (parsed.k !== 'failed' && parsed.k !== 'succeeded') || typeof parsed.a !== 'string' || typeof parsed.s !== 'string') return;
      const f = parsed.f;
      const freeFailures = typeof f === 'number' && Number.isInteger(f) && f >= 1 && f <= 100 ? f : undefined;
      const news: ThrottleNews = { kind: parsed.k, account: parsed.a, source: parsed.s, ...(freeFailures !== undefined && { freeFailures }) };
      for (const listener of this.listeners) listener(news);
    });
    client.on('error', lost);
    client.on('end', () => lost());
    await client.connect();
    this.listener = client;
    await client.query(`LISTEN ${CHANNEL}`);
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
    clearTimeout(this.reconnect);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}
