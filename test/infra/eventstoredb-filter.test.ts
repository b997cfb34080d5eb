import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isSystemEvent } from '../../src/infra/eventstoredb/eventstoredb-event-store.js';

/**
 * What the EventStoreDB adapter keeps out of our log, checked without a server
 * (none runs here): server events, and the process managers' own checkpoints,
 * which would otherwise feed back into them forever.
 */
describe('EventStoreDB adapter: events that are not ours', () => {
  test('server events and checkpoint streams are dropped; our events are kept', () => {
    assert.equal(isSystemEvent({ type: '$metadata', streamId: '$$user-1' }), true);
    assert.equal(isSystemEvent({ type: '$>', streamId: '$ce-user' }), true);
    assert.equal(isSystemEvent({ type: 'checkpoint.stored', streamId: 'checkpoint-provisioning' }), true);
    assert.equal(isSystemEvent({ type: 'user.created', streamId: 'user-1' }), false);
    assert.equal(isSystemEvent({ type: 'session.started', streamId: 'session-c-u' }), false);
  });
});
