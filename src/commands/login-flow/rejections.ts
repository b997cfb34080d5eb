import type { LoginFlowEvent, LoginFlowRejection, ThrottleLimit } from '../../domain/login-flow/events.js';
import { loginAuditStream, userLoginsStream } from '../../domain/login-flow/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import { toNewEvent } from '../pipeline.js';

/** How often, at most, one client's refusals of one reason become an event. */
export const REJECTION_SAMPLE_MS = 60_000;
/** Bounded memory: keys of the current window. */
const MAX_KEYS = 10_000;

/**
 * Records refused login steps (`login.flow.rejected`) and throttled attempts
 * (`login.throttled`), sampled: the first of a kind in a window is written at
 * once, with the count of those suppressed since the previous event.
 */
export class LoginFlowRejections {
  private readonly windows = new Map<string, { since: number; suppressed: number }>();

  constructor(private readonly events: EventStore) {}

  async record(
    rejection: { clientId: string; organizationId: string; reason: LoginFlowRejection; sourceAddress?: string },
    meta: CommandMetadata,
  ): Promise<GlobalPosition | undefined> {
    const count = this.sample(`${rejection.clientId}\u0000${rejection.reason}`, meta.now.getTime());
    return count === undefined ? undefined : this.append(rejection.clientId, { type: 'login.flow.rejected', data: { ...rejection, count } }, meta);
  }

  async throttled(
    attempt: { limit: ThrottleLimit; clientId?: string; sourceAddress?: string; userId?: string; organizationId?: string },
    meta: CommandMetadata,
  ): Promise<GlobalPosition | undefined> {
    // Sampled per client and limit, not per address: a botnet's many addresses make one event a minute, not one each.
    // An existing account slowed down is named, and sampled on its own: one event per account and minute, on its stream.
    const count = this.sample(`throttled\u0000${attempt.clientId ?? ''}\u0000${attempt.limit}\u0000${attempt.userId ?? ''}`, meta.now.getTime());
    if (count === undefined) return undefined;
    const event: LoginFlowEvent = { type: 'login.throttled', data: { ...attempt, count } };
    if (attempt.userId !== undefined) {
      return (await this.events.appendToStream(userLoginsStream(attempt.userId), [toNewEvent(event, meta)], { expectedRevision: 'any' })).position;
    }
    return this.append(attempt.clientId ?? 'platform', event, meta);
  }

  /** The count the event stands for, or undefined while the key's window is open. */
  private sample(key: string, now: number): number | undefined {
    const window = this.windows.get(key);
    if (window && now - window.since < REJECTION_SAMPLE_MS) {
      window.suppressed++;
      return undefined;
    }
    if (this.windows.size >= MAX_KEYS) this.windows.clear();
    this.windows.set(key, { since: now, suppressed: 0 });
    return 1 + (window?.suppressed ?? 0);
  }

  private async append(clientId: string, event: LoginFlowEvent, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    // It decides nothing: append whatever the stream's revision.
    const appended = await this.events.appendToStream(loginAuditStream(clientId), [toNewEvent(event, meta)], { expectedRevision: 'any' });
    return appended.position;
  }
}
