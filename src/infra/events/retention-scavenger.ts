import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { retentionPolicy, type RetentionPolicy, type RetentionSettings } from '../../domain/retention.js';
import type { EventStore, ScavengeReport } from '../../ports/event-store.js';

/** The retention settings from the configuration (docs/retention.md). */
export const retentionSettings = (config: Config): RetentionSettings => ({
  sessionEventRetentionMs: config.SESSION_EVENT_RETENTION_SECONDS * 1000,
  userActivityRetentionMs: config.USER_ACTIVITY_RETENTION_SECONDS * 1000,
  ...(config.LOGIN_RECORD_RETENTION_SECONDS > 0 && { loginRecordRetentionMs: config.LOGIN_RECORD_RETENTION_SECONDS * 1000 }),
  refreshAbsoluteLifetimeMs: config.REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS * 1000,
  refreshIdleLifetimeMs: config.REFRESH_TOKEN_IDLE_LIFETIME_SECONDS * 1000,
});

/**
 * Runs the event store's scavenger (SQLite) with the retention policy every
 * `intervalSeconds` (0: never; `npm run scavenge` runs it once). One pass at a
 * time; the store works in pages and yields, so requests go on meanwhile.
 * Engines with native retention (EventStoreDB) have no scavenger: nothing runs.
 */
export class RetentionScavenger {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScavengeReport | undefined> | undefined;
  private stopped = false;

  constructor(
    private readonly events: EventStore,
    readonly policy: RetentionPolicy,
    private readonly intervalSeconds: number,
    private readonly logger?: Logger,
  ) {}

  static fromConfig(events: EventStore, config: Config, logger?: Logger): RetentionScavenger {
    return new RetentionScavenger(events, retentionPolicy(retentionSettings(config)), config.RETENTION_SCAVENGE_SECONDS, logger);
  }

  /** Whether the store applies retention through this scavenger. */
  get available(): boolean {
    return this.events.scavenge !== undefined;
  }

  start(): void {
    // Started again when its lease is taken again (docs/cluster.md).
    this.stopped = false;
    if (this.intervalSeconds === 0 || !this.available) return;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runOnce()
        .catch((error: unknown) => this.logger?.error({ err: error }, 'retention scavenge failed'))
        .finally(() => this.schedule());
    }, this.intervalSeconds * 1000);
    this.timer.unref();
  }

  /** One pass now (or joins the pass under way); `now` decides what has aged out. */
  runOnce(now?: Date): Promise<ScavengeReport | undefined> {
    const scavenge = this.events.scavenge;
    if (!scavenge || this.stopped) return Promise.resolve(undefined);
    this.running ??= scavenge(this.policy, now ? { now } : {})
      .then((report) => {
        if (report.removed > 0 || (report.bytesFreed ?? 0) > 0) this.logger?.info({ retention: report }, 'retention scavenge');
        return report;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** No further passes; waits for the one under way (it stops between pages once the store closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}
