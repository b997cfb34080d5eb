import assert from 'node:assert/strict';
import type { Decider, DomainEvent } from '../../src/domain/shared/decider.js';

/**
 * Given/when/then for deciders: fold the given events, run the decision, and
 * compare the events it returns or the error it throws.
 */
export function givenDecider<State, Event extends DomainEvent>(decider: Decider<State, Event>) {
  return (given: Event[]) => {
    const state = given.reduce(decider.evolve, decider.initialState());
    return {
      when: (decide: (state: State) => Event[]) => ({
        then: (expected: Event[]) => assert.deepEqual(decide(state), expected),
        thenThrows: (errorClass: new (...args: any[]) => Error, message?: RegExp) =>
          assert.throws(() => decide(state), (error: unknown) => {
            assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${String(error)}`);
            if (message) assert.match((error as Error).message, message);
            return true;
          }),
      }),
      state,
    };
  };
}
