import { federationStateStream, type LoginFlowEvent, userLoginsStream } from '../../domain/login-flow/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { WrongExpectedRevisionError, type EventStore, type GlobalPosition } from '../../ports/event-store.js';
import { toNewEvent } from '../pipeline.js';

export type LoginSucceeded = Extract<LoginFlowEvent, { type: 'user.login.succeeded' }>['data'];
export type LoginFailed = Extract<LoginFlowEvent, { type: 'user.login.failed' }>['data'];

/**
 * What a login writes besides its code: the single use of a federated login's
 * state, and the success itself.
 */
export class LoginRecords {
  constructor(private readonly events: EventStore) {}

  /**
   * Use a federated login's state, once: the first append to its stream wins
   * (expected revision no_stream), on this instance or any other. Answers
   * false when it was used before.
   */
  async consumeState(consumed: { stateId: string; clientId: string; providerID: string }, meta: CommandMetadata): Promise<boolean> {
    try {
      await this.events.appendToStream(
        federationStateStream(consumed.stateId),
        [toNewEvent({ type: 'login.federation.state.consumed', data: consumed }, meta)],
        { expectedRevision: 'no_stream' },
      );
      return true;
    } catch (error) {
      if (error instanceof WrongExpectedRevisionError) return false;
      throw error;
    }
  }

  async failed(login: LoginFailed, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    const appended = await this.events.appendToStream(userLoginsStream(login.userId), [toNewEvent({ type: 'user.login.failed', data: login }, meta)], {
      expectedRevision: 'any',
    });
    return appended.position;
  }

  async succeeded(login: LoginSucceeded, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    // It decides nothing: appended whatever the stream's revision.
    const appended = await this.events.appendToStream(userLoginsStream(login.userId), [toNewEvent({ type: 'user.login.succeeded', data: login }, meta)], {
      expectedRevision: 'any',
    });
    return appended.position;
  }
}
