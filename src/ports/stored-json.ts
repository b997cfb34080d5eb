import type { RecordedEvent } from './event-store.js';

/**
 * The JSON text an event was stored as, kept by an adapter for the objects
 * it returns (the embedded store's readPositions): an export writes that text
 * as it is instead of serialising the parsed value again. A changed copy of
 * the event (opened personal data) has none.
 */
const texts = new WeakMap<RecordedEvent, { readonly data: string; readonly metadata: string }>();

export const rememberStoredJson = (event: RecordedEvent, text: { readonly data: string; readonly metadata: string }): void => {
  texts.set(event, text);
};

export const storedJsonOf = (event: RecordedEvent): { readonly data: string; readonly metadata: string } | undefined => texts.get(event);
