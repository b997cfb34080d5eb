import { v7 as uuidv7 } from 'uuid';
import type { EventStore, NewEvent, RecordedEvent } from '../../src/ports/event-store.js';

/** A test event with valid metadata. */
export const testEvent = (type = 'test.happened', data: unknown = {}): NewEvent => ({
  type,
  data,
  metadata: {
    eventId: uuidv7(),
    occurredAt: new Date().toISOString(),
    actor: { subject: 'tester', kind: 'system' },
    correlationId: 'test',
    causationId: 'test',
  },
});

/** The first `count` events a new subscription to the whole log delivers; the subscription is closed after. */
export async function firstSubscribed(store: Pick<EventStore, 'subscribeToAll'>, count: number): Promise<RecordedEvent[]> {
  const subscription = store.subscribeToAll();
  const seen: RecordedEvent[] = [];
  try {
    for await (const event of subscription) {
      seen.push(event);
      if (seen.length === count) break;
    }
  } finally {
    await subscription.close();
  }
  return seen;
}
