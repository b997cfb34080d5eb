import { v7 as uuidv7 } from 'uuid';
import type { NewEvent } from '../../src/ports/event-store.js';

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
