import { randomUUID } from 'node:crypto';
import type { AccessDenied, AuditDenialEvent, ClientAuthenticationFailed } from '../../domain/audit/denials.js';
import { accessDenialsStream } from '../../domain/audit/denials.js';
import { loginAuditStream } from '../../domain/login-flow/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import { toNewEvent } from '../pipeline.js';
import { DENIAL_SAMPLE_MS, Sampler } from './sampler.js';

type Denial = Omit<AccessDenied, 'suppressed' | 'flush'>;
type ClientFailure = Omit<ClientAuthenticationFailed, 'suppressed' | 'flush'>;

interface Described<T> {
  readonly data: T;
  readonly actor: CommandMetadata['actor'];
}

/**
 * Records the refusals an audit asks about with bounded volume: 403s on the
 * admin API (`access.denied`, per caller and route) and rejected client
 * authentication (`client.authentication.failed`, per client id and source
 * address), each sampled per key and minute (src/commands/audit/sampler.ts).
 * A timer flushes the counts of closed windows; close() flushes the rest.
 */
export class AuditDenials {
  private readonly accessDenials: Sampler<Described<Denial>>;
  private readonly clientFailures: Sampler<Described<ClientFailure>>;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly events: EventStore,
    private readonly clock: () => Date = () => new Date(),
    windowMs = DENIAL_SAMPLE_MS,
    private readonly onError: (error: unknown) => void = () => {},
  ) {
    this.accessDenials = new Sampler(windowMs);
    this.clientFailures = new Sampler(windowMs);
    this.timer = setInterval(() => void this.flush(), windowMs);
    this.timer.unref();
  }

  /** A 403: an event when it is the first of its (caller, route) pair in the window, else only counted. */
  async accessDenied(denial: Denial, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    const key = `${denial.caller.kind}\u0000${denial.caller.id}\u0000${denial.method}\u0000${denial.route}`;
    const suppressed = this.accessDenials.take(key, meta.now.getTime(), { data: denial, actor: meta.actor });
    if (suppressed === undefined) return undefined;
    return this.append(accessDenialsStream(denial.organizationId), { type: 'access.denied', data: { ...denial, suppressed } }, meta);
  }

  /** A rejected client authentication: sampled per (client id, source address). */
  async clientAuthenticationFailed(failure: ClientFailure, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    const key = `${failure.clientId}\u0000${failure.sourceAddress ?? ''}`;
    const suppressed = this.clientFailures.take(key, meta.now.getTime(), { data: failure, actor: meta.actor });
    if (suppressed === undefined) return undefined;
    return this.append(this.clientStream(failure), { type: 'client.authentication.failed', data: { ...failure, suppressed } }, meta);
  }

  /** One event per closed window that counted refusals (all windows with `all`): its suppressed count, flagged `flush`. */
  flush(all = false): Promise<void> {
    // One flush at a time: a slow store must not pile them up.
    this.flushing = this.flushing.then(async () => {
      const now = this.clock();
      const meta = (actor: CommandMetadata['actor']): CommandMetadata => {
        const id = randomUUID();
        return { now, actor, correlationId: id, causationId: id };
      };
      try {
        for (const { describe, suppressed } of this.accessDenials.drain(now.getTime(), all)) {
          await this.append(accessDenialsStream(describe.data.organizationId), { type: 'access.denied', data: { ...describe.data, suppressed, flush: true } }, meta(describe.actor));
        }
        for (const { describe, suppressed } of this.clientFailures.drain(now.getTime(), all)) {
          await this.append(this.clientStream(describe.data), { type: 'client.authentication.failed', data: { ...describe.data, suppressed, flush: true } }, meta(describe.actor));
        }
      } catch (error) {
        this.onError(error);
      }
    });
    return this.flushing;
  }

  /** Stops the timer and writes what is still counted. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush(true);
  }

  /** A known client's own audit stream, filed under its organization; an unknown id's go to the platform's. */
  private clientStream(failure: ClientFailure): string {
    return loginAuditStream(failure.organizationId !== undefined ? failure.clientId : 'platform');
  }

  private async append(stream: string, event: AuditDenialEvent, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    // It decides nothing: append whatever the stream's revision.
    const appended = await this.events.appendToStream(stream, [toNewEvent(event, meta)], { expectedRevision: 'any' });
    return appended.position;
  }
}
