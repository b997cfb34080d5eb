import type { ActorKind } from '../../ports/event-store.js';

/** What every command carries besides its payload: the clock and the actor
 * come in from outside so that deciders stay pure and testable. */
export interface CommandMetadata {
  readonly now: Date;
  /** `id`: a user actor's id (their email in `subject` is personal data, sealed under their key). */
  readonly actor: { readonly subject: string; readonly kind: ActorKind; readonly id?: string };
  /** The request id, copied to every event the command produces. */
  readonly correlationId: string;
  /** The id of the message (request or event) that caused this command. */
  readonly causationId: string;
}

/** A domain event before it is stored: its type and its data. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
}

/** An aggregate's state machine, emmett style: start, fold events, decide. */
export interface Decider<State, Event extends DomainEvent> {
  readonly initialState: () => State;
  readonly evolve: (state: State, event: Event) => State;
}

/** Compile-time check that a switch handled every case. */
export const assertNever = (value: never): never => {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
};
