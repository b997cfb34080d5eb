import type { EventStore, SubscribeOptions, Subscription } from '../../src/ports/event-store.js';

/**
 * A real event store with one fault injected: while `fault.broken` is set,
 * every subscription fails at its next event, as a dropped gRPC stream to
 * EventStoreDB does (no server for it runs here). Everything else is the store's own.
 */
export function withDroppingSubscriptions(store: EventStore): { wrapped: EventStore; fault: { broken: boolean; opened: number } } {
  const fault = { broken: false, opened: 0 };
  const wrapped: EventStore = Object.assign(Object.create(store) as EventStore, {
    subscribeToAll(options?: SubscribeOptions): Subscription {
      fault.opened += 1;
      const inner = store.subscribeToAll(options);
      async function* deliver() {
        for await (const event of inner) {
          if (fault.broken) throw new Error('14 UNAVAILABLE: connection dropped');
          yield event;
        }
      }
      const iterator = deliver();
      return { [Symbol.asyncIterator]: () => iterator, close: () => inner.close() };
    },
  });
  return { wrapped, fault };
}
