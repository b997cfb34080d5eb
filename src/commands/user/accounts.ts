import { ACCOUNT_NUMBERS_STREAM, accountNumbersDecider, drawAccountNumber } from '../../domain/account-number/decider.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { NotFoundError } from '../../domain/shared/errors.js';
import { assignAccountNumber, changeProfile, isUserOf, userDecider } from '../../domain/user/decider.js';
import { type UserProfile, userStream } from '../../domain/user/events.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import { handleCommand, loadState } from '../pipeline.js';

/**
 * The accounts API's own user commands (docs/accounts.md): an account is a
 * user, so these append to the user's stream: its profile (first and last
 * name, API client id, LDAP principal) and its stable number.
 */
export class AccountCommands {
  constructor(private readonly store: EventStore) {}

  /**
   * The user's account number: the one it has, or the next of the
   * platform's counter, recorded on the user's stream. Drawn at most once
   * per user in the usual case; a draw that lost a race to another one for the
   * same user is a number left unused (the user keeps its first).
   */
  async ensureNumber(organizationId: string, userId: string, meta: CommandMetadata): Promise<{ accountNumber: number; position?: GlobalPosition }> {
    const { state } = await loadState(this.store, userStream(userId), userDecider);
    if (!isUserOf(state, organizationId)) throw new NotFoundError(`account ${userId} not found`);
    if (state.accountNumber !== undefined) return { accountNumber: state.accountNumber };
    // One counter that every new account draws from: under a burst it needs more retries than a stream of one writer.
    const drawn = await handleCommand(this.store, ACCOUNT_NUMBERS_STREAM, accountNumbersDecider, (counter) => drawAccountNumber(counter, { organizationId, userId }), meta, {
      maxAttempts: 32,
    });
    const assigned = await handleCommand(
      this.store,
      userStream(userId),
      userDecider,
      (user) => assignAccountNumber(user, { userId, organizationId, accountNumber: drawn.state.last }),
      meta,
    );
    if (assigned.state.status !== 'exists' || assigned.state.accountNumber === undefined) throw new NotFoundError(`account ${userId} not found`);
    return { accountNumber: assigned.state.accountNumber, position: assigned.position ?? drawn.position };
  }

  /** Set the whole profile; the same again writes nothing. */
  async changeProfile(organizationId: string, userId: string, profile: UserProfile, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    const result = await handleCommand(this.store, userStream(userId), userDecider, (state) => changeProfile(state, { userId, organizationId, profile }), meta);
    return result.position;
  }
}
