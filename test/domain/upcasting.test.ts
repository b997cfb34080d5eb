import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { eventSchemas } from '../../src/domain/events.js';
import { createEventReader, currentSchemaVersion, eventReader, UPCASTERS } from '../../src/domain/upcasting.js';

/**
 * A type that changed shape twice: v1 {fullName}, v2 {first, last}, v3 {first, last, displayName}.
 * Its schema is the current (v3) shape; the two upcasters bring older events to it.
 */
const registry = {
  schemas: {
    'person.renamed': z.object({ first: z.string(), last: z.string(), displayName: z.string() }).strict(),
    'person.left': z.object({ reason: z.enum(['moved', 'retired']) }),
  },
  upcasters: {
    'person.renamed': [
      (data: unknown) => {
        const { fullName } = data as { fullName: string };
        const [first = '', ...rest] = fullName.split(' ');
        return { first, last: rest.join(' ') };
      },
      (data: unknown) => {
        const { first, last } = data as { first: string; last: string };
        return { first, last, displayName: `${first} ${last}`.trim() };
      },
    ],
  },
};
const reader = createEventReader(registry);

describe('upcasting and validation on read', () => {
  test('the current version is one more than the number of upcasters', () => {
    assert.equal(reader.currentVersion('person.renamed'), 3);
    assert.equal(reader.currentVersion('person.left'), 1);
    assert.equal(reader.currentVersion('person.unknown'), undefined);
  });

  test('an event without a version is version 1 and is upcast step by step to the current shape', () => {
    const outcome = reader.read({ type: 'person.renamed', data: { fullName: 'Ada King Lovelace' }, metadata: {} });
    assert.deepEqual(outcome, { ok: true, data: { first: 'Ada', last: 'King Lovelace', displayName: 'Ada King Lovelace' }, schemaVersion: 3, upcastFrom: 1 });
    const fromTwo = reader.read({ type: 'person.renamed', data: { first: 'Grace', last: 'Hopper' }, metadata: { schemaVersion: 2 } });
    assert.deepEqual(fromTwo, { ok: true, data: { first: 'Grace', last: 'Hopper', displayName: 'Grace Hopper' }, schemaVersion: 3, upcastFrom: 2 });
    const current = reader.read({ type: 'person.renamed', data: { first: 'A', last: 'B', displayName: 'AB' }, metadata: { schemaVersion: 3 } });
    assert.deepEqual(current, { ok: true, data: { first: 'A', last: 'B', displayName: 'AB' }, schemaVersion: 3 });
  });

  test('what cannot be read is answered, never thrown: unknown type, future version, refused data, a failing upcaster, a bad version', () => {
    const problem = (event: Parameters<typeof reader.read>[0]) => {
      const outcome = reader.read(event);
      assert.equal(outcome.ok, false);
      return !outcome.ok ? outcome.unreadable : undefined;
    };
    assert.equal(problem({ type: 'person.promoted', data: {}, metadata: {} })?.problem, 'unknown_type');
    const future = problem({ type: 'person.renamed', data: { anything: true }, metadata: { schemaVersion: 4 } });
    assert.equal(future?.problem, 'future_version');
    assert.equal(future?.schemaVersion, 4);
    assert.equal(problem({ type: 'person.left', data: { reason: 'bored' }, metadata: {} })?.problem, 'invalid');
    assert.equal(problem({ type: 'person.renamed', data: { fullName: 42 }, metadata: { schemaVersion: 1 } })?.problem, 'upcast_failed');
    assert.equal(problem({ type: 'person.left', data: { reason: 'moved' }, metadata: { schemaVersion: '1' } })?.problem, 'invalid');
    assert.equal(problem({ type: 'person.left', data: { reason: 'moved' }, metadata: { schemaVersion: 0 } })?.problem, 'invalid');
    // Upcast fine, but the result still fails today's schema.
    const upcastInvalid = problem({ type: 'person.renamed', data: { first: 'A' }, metadata: { schemaVersion: 2 } });
    assert.equal(upcastInvalid?.problem, 'invalid');
    assert.match(upcastInvalid?.detail ?? '', /upcast from version 2.*last/);
  });

  test('the reason names fields and rules, never the values (they may be personal or secret)', () => {
    const outcome = reader.read({ type: 'person.left', data: { reason: 'my-secret-password-123' }, metadata: {} });
    assert.equal(outcome.ok, false);
    if (!outcome.ok) {
      assert.match(outcome.unreadable.detail, /reason/);
      assert.doesNotMatch(outcome.unreadable.detail, /my-secret-password-123/);
    }
  });

  test('login records of the early password lockout (version 1, in credentials streams) read as password logins', () => {
    const user = { userId: 'u-1', organizationId: 'o-1' };
    const failed = eventReader.read({ type: 'user.login.failed', data: { ...user, consecutiveFailures: 3 }, metadata: {} });
    assert.deepEqual(failed.ok && failed.data, { ...user, method: 'password', reason: 'wrong_password' });
    const succeeded = eventReader.read({ type: 'user.login.succeeded', data: user, metadata: {} });
    assert.deepEqual(succeeded.ok && succeeded.data, { ...user, method: 'password' });
    // Version 2, as written now, reads as written.
    const now = { ...user, method: 'federated', reason: 'account_suspended', clientId: 'c', providerID: 'p' };
    const current = eventReader.read({ type: 'user.login.failed', data: now, metadata: { schemaVersion: 2 } });
    assert.deepEqual(current.ok && current.data, now);
  });

  test("the service's registry: every type it writes has a current version, and every upcaster belongs to a known type", () => {
    for (const type of Object.keys(eventSchemas)) assert.ok(currentSchemaVersion(type) >= 1, type);
    for (const type of Object.keys(UPCASTERS)) assert.ok(Object.hasOwn(eventSchemas, type), `upcasters for unknown type ${type}`);
    assert.equal(eventReader.currentVersion('no.such.type'), undefined);
    assert.throws(() => currentSchemaVersion('no.such.type'));
  });
});
