import type { LoginFlowEvent, LoginFlowRejection } from '../../domain/login-flow/events.js';
import { loginAuditStream } from '../../domain/login-flow/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import { toNewEvent } from '../pipeline.js';

/** How often, at most, one client's refusals of one reason become an event. */
export const REJECTION_SAMPLE_MS = 60_000;
/** Bounded memory: keys of the current window. */
const MAX_KEYS = 10_000;

/**
 * Records refused login steps (`login.flow.rejected`), sampled: the first
 * refusal of a (client, reason) in a window is written at once, with the count
 * of the refusals suppressed since the previous event.
 */
export class LoginFlowRejections {
  private readonly windows = new Map<string, { since: number; suppressed: number }>();

  constructor(private readonly events: EventStore) {}

  async record(
    rejection: { clientId: string; organizationId: string; reason: LoginFlowRejection; sourceAddress?: string },
    meta: CommandMetadata,
  ): Promise<GlobalPosition | undefined> {
    const key = `${rejection.clientId}\u0000${rejection.reason}`;
    const now = meta.now.getTime();
    const window = this.windows.get(key);
    if (window && now - window.since < REJECTION_SAMPLE_MS) {
      window.suppressed++;
      return undefined;
    }
    if (this.windows.size >= MAX_KEYS) this.windows.clear();
    this.windows.set(key, { since: now, suppressed: 0 });
    const event: LoginFlowEvent = { type: 'login.flow.rejected', data: { ...rejection, count: 1 + (window?.suppressed ?? 0) } };
    // It decides nothing: append whatever the stream's revision.
    const appended = await this.events.appendToStream(loginAuditStream(rejection.clientId), [toNewEvent(event, meta)], { expectedRevision: 'any' });
    return appended.position;
  }
}
