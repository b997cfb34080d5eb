import pg from 'pg';
import type { Logger } from 'pino';

export interface PgListenerOptions {
  readonly connectionString: string;
  readonly channel: string;
  /** Shown in pg_stat_activity. */
  readonly applicationName: string;
  readonly logger?: Logger;
  /** Pause between attempts after a loss or a failed connect; default 1000 ms. */
  readonly retryMs?: number;
  onNotification(payload: string): void;
  /** After every successful LISTEN (the first and each reconnect): catch up on what a gap may have hidden. */
  onListening?(): void;
  /** When the connection is lost (or a connect fails): anything learnt from notifications may be stale now. */
  onLost?(): void;
}

/**
 * LISTEN on one channel over a connection of its own, reconnecting every
 * `retryMs` until it succeeds or the listener is closed. The event store, the
 * person keys and the throttle relay each hold one.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: PgListenerOptions) {}

  /** The first attempt: resolves once listening; on failure it rejects, and keeps trying in the background until closed. */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const { connectionString, channel, applicationName } = this.options;
    const client = new pg.Client({ connectionString, application_name: applicationName, keepAlive: true });
    const lost = (error?: unknown) => {
      if (this.client !== client) return;
      this.client = undefined;
      if (error) this.options.logger?.warn({ err: error, channel }, 'LISTEN connection lost; reconnecting');
      void client.end().catch(() => undefined);
      this.options.onLost?.();
      this.scheduleRetry();
    };
    this.client = client;
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => {
      if (message.channel === channel && message.payload) this.options.onNotification(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (error) {
      lost(error);
      throw error;
    }
    this.options.onListening?.();
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    clearTimeout(this.retry);
    // A failed attempt schedules the next one itself (through `lost`), so the catch only stops an unhandled rejection.
    this.retry = setTimeout(() => void this.connect().catch(() => undefined), this.options.retryMs ?? 1000);
    this.retry.unref();
  }
}
