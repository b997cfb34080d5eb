import { erasureStream, type PersonalDataEvent } from '../../domain/personal-data/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { NotFoundError } from '../../domain/shared/errors.js';
import { userDecider } from '../../domain/user/decider.js';
import { userStream } from '../../domain/user/events.js';
import type { PersonKeyStore } from '../../infra/crypto/person-keys.js';
import { type EventStore, type GlobalPosition, WrongExpectedRevisionError } from '../../ports/event-store.js';
import { loadState, toNewEvent } from '../pipeline.js';
import type { UserCommands } from './handlers.js';

/** Something that keeps a copy of people's data outside the log, and forgets a person when told. */
export type ErasureHook = (personId: string, context: { readonly position?: GlobalPosition }) => Promise<void> | void;

/**
 * Who else must forget an erased person: the read-model snapshot file, the
 * stored Idempotency-Key answers, and whatever registers later (the audit
 * index's names). Each runs after the key is destroyed; a hook that fails
 * fails the erasure, which a retry runs again (every step is idempotent).
 */
export class ErasureHooks {
  private readonly hooks: { name: string; hook: ErasureHook }[] = [];

  onErased(name: string, hook: ErasureHook): void {
    this.hooks.push({ name, hook });
  }

  async run(personId: string, context: { readonly position?: GlobalPosition }): Promise<void> {
    for (const { hook } of this.hooks) await hook(personId, context);
  }

  get names(): string[] {
    return this.hooks.map((h) => h.name);
  }
}

export interface ErasureResult {
  readonly userId: string;
  /** Where the erasure's last event landed (the deletion, sessions ended, user.erased); undefined when nothing was written. */
  readonly position?: GlobalPosition;
  /** False when the user had been erased before. */
  readonly erasedNow: boolean;
}

/**
 * Erase a user (GDPR art. 17): delete it if it still exists, end its sessions,
 * append `user.erased`, destroy its data key, then tell the hooks. Events are
 * never removed or rewritten: the person's fields in them were sealed under
 * that key and read `[erased]` from now on.
 */
export class UserErasure {
  constructor(
    private readonly deps: {
      readonly store: EventStore;
      readonly users: UserCommands;
      readonly keys: PersonKeyStore;
      readonly sessions: { ofUser(userId: string, meta: CommandMetadata): Promise<GlobalPosition | undefined> };
      readonly hooks: ErasureHooks;
    },
  ) {}

  async erase(organizationId: string, userId: string, meta: CommandMetadata): Promise<ErasureResult> {
    const { store, users, keys, sessions, hooks } = this.deps;
    const { state } = await loadState(store, userStream(userId), userDecider);
    // Only a user of this organization, existing or deleted, can be erased through it.
    if (state.status === 'absent' || state.organizationId !== organizationId) throw new NotFoundError(`user ${userId} not found`);
    let position: GlobalPosition | undefined;
    if (state.status === 'exists') position = (await users.delete(organizationId, userId, meta)).position;
    position = (await sessions.ofUser(userId, meta)) ?? position;
    const erased: PersonalDataEvent = { type: 'user.erased', data: { userId, organizationId } };
    let erasedNow = true;
    try {
      position = (await store.appendToStream(erasureStream(userId), [toNewEvent(erased, meta)], { expectedRevision: 'no_stream' })).position;
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      erasedNow = false; // erased before: the rest runs again, harmlessly
    }
    await keys.destroy(userId);
    await hooks.run(userId, { position });
    return { userId, position, erasedNow };
  }
}
