import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ExportSlots } from '../../src/api/audit/routes.js';
import { TooManyRequestsError } from '../../src/api/http/errors.js';

// An export holds index reads and a socket for as long as its client reads: a
// caller who opens many at once must be refused, not queued.
describe('audit export slots', () => {
  test('a caller with an export running is refused a second one with 429 and Retry-After', () => {
    const slots = new ExportSlots({ total: 4, perCaller: 1 });
    const release = slots.take('user:mallory');
    assert.throws(() => slots.take('user:mallory'), (error: unknown) => error instanceof TooManyRequestsError && error.status === 429 && error.headers?.['Retry-After'] === '5');
    // Others are not held up by that caller.
    const other = slots.take('user:alice');
    release();
    other();
    // Released: the caller may export again.
    slots.take('user:mallory')();
  });

  test('the instance runs at most `total` exports whoever asks, and a release frees one slot once', () => {
    const slots = new ExportSlots({ total: 2, perCaller: 5 });
    const first = slots.take('a');
    slots.take('b');
    assert.throws(() => slots.take('c'), TooManyRequestsError);
    first();
    first(); // twice: still one slot
    slots.take('c');
    assert.throws(() => slots.take('d'), TooManyRequestsError);
  });
});
