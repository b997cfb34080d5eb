import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nativeRetention, type RetentionSettings } from '../../src/domain/retention.js';
import { EventStoreDbEventStore } from '../../src/infra/eventstoredb/eventstoredb-event-store.js';
import { testEvent } from '../support/events.js';

const DAY = 86_400;
const settings: RetentionSettings = { sessionEventRetentionMs: 7 * DAY * 1000, userActivityRetentionMs: DAY * 1000, refreshAbsoluteLifetimeMs: 90 * DAY * 1000, refreshIdleLifetimeMs: 30 * DAY * 1000 };

/**
 * EventStoreDB applies retention natively; no server runs here, so the client
 * library is stubbed at its API boundary (appendToStream, setStreamMetadata).
 */
describe('EventStoreDB adapter: native retention metadata', () => {
  test('a stream with retention gets $maxAge / $maxCount when first written, and only then; other streams never', async () => {
    const store = await EventStoreDbEventStore.connect('esdb://127.0.0.1:1?tls=false');
    const revisions = new Map<string, bigint>();
    const metadata: Array<[string, unknown]> = [];
    const client = store.client as unknown as Record<string, unknown>;
    client.appendToStream = async (stream: string, events: unknown[]) => {
      const next = (revisions.get(stream) ?? -1n) + BigInt(events.length);
      revisions.set(stream, next);
      return { success: true, nextExpectedRevision: next, position: { commit: next, prepare: next } };
    };
    client.setStreamMetadata = async (stream: string, value: unknown) => {
      metadata.push([stream, value]);
      return { success: true };
    };
    store.useRetention((name) => nativeRetention(name, settings));

    await store.appendToStream('session-c-u', [testEvent(), testEvent()], { expectedRevision: 'no_stream' });
    await store.appendToStream('session-c-u', [testEvent()], { expectedRevision: 1 });
    await store.appendToStream('useractivity-u', [testEvent()], { expectedRevision: 'any' });
    await store.appendToStream('useractivity-u', [testEvent()], { expectedRevision: 'any' });
    await store.appendToStream('user-u', [testEvent()], { expectedRevision: 'no_stream' });
    assert.deepEqual(metadata, [
      ['session-c-u', { maxAge: 97 * DAY }],
      ['useractivity-u', { maxCount: 1 }],
    ]);

    // A failure to set the metadata does not fail the append (its events are in).
    client.setStreamMetadata = async () => {
      throw new Error('unavailable');
    };
    assert.equal((await store.appendToStream('session-c-v', [testEvent()], { expectedRevision: 'no_stream' })).nextExpectedRevision, 0);
    await store.close();
  });
});
