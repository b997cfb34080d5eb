import { AsyncLocalStorage } from 'node:async_hooks';
import type { RequestSource } from '../ports/event-store.js';

/**
 * Where the request being served came from (its address and user agent), for
 * the events it causes: set by the request-source middleware for the whole
 * request, read by toNewEvent. Events appended outside a request have none.
 */
const sources = new AsyncLocalStorage<RequestSource>();

export const runWithRequestSource = <T>(source: RequestSource, run: () => T): T => sources.run(source, run);

export const currentRequestSource = (): RequestSource | undefined => sources.getStore();
