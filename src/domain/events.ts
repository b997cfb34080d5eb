import type { z } from 'zod';
import { bootstrapEventSchemas } from './bootstrap/events.js';
import { organizationEventSchemas } from './organization/events.js';
import { reservationEventSchemas } from './reservation/decider.js';
// [imports]

/** Every event type the service writes, with the schema its data must satisfy. */
export const eventSchemas: Readonly<Record<string, z.ZodType>> = {
  ...organizationEventSchemas,
  ...reservationEventSchemas,
  ...bootstrapEventSchemas,
  // [schemas]
};

export const isKnownEventType = (type: string): boolean => Object.hasOwn(eventSchemas, type);
