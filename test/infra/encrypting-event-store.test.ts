import assert from 'node:assert/strict';
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ERASED } from '../../src/domain/personal-data/map.js';
import { PersonKeys } from '../../src/infra/crypto/person-keys.js';
import { ACTOR_ENVELOPE_PREFIX, ENVELOPE_PREFIX, ENVELOPE_V2_PREFIX, ENVELOPE_V3_PREFIX, PersonalDataCipher } from '../../src/infra/events/encrypting-event-store.js';
import { EvolvingEventStore } from '../../src/infra/events/evolving-event-store.js';
import { UnreadableEvents } from '../../src/infra/events/unreadable-events.js';
import { eventReader } from '../../src/domain/upcasting.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { NewEvent } from '../../src/ports/event-store.js';
import { firstSubscribed, testEvent } from '../support/events.js';
import { tempDir } from '../support/temp.js';

const userEvent = (userId: string, subject: string, name: string): NewEvent =>
  testEvent('user.created', { userId, organizationId: 'org-1', name, description: `the account of ${subject}`, tags: [{ name: 'team', value: `${name}-team` }], subject, state: 'active' });

const json = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

/** Every file of the folder holds none of the needles (raw bytes). */
function filesHolding(dir: string, needles: string[]): string[] {
  const found: string[] = [];
  for (const file of readdirSync(dir)) {
    const bytes = readFileSync(join(dir, file));
    for (const needle of needles) if (bytes.includes(Buffer.from(needle, 'utf8'))) found.push(`${file}: ${needle}`);
  }
  return found;
}

/** The production read and write path (EvolvingEventStore with the cipher) over real files in a temp folder; closed and removed after. */
async function withSealingStore(run: (context: { keys: PersonKeys; raw: SqliteEventStore; store: EvolvingEventStore }) => Promise<void>): Promise<void> {
  const temp = tempDir();
  const keys = new PersonKeys(join(temp.path, 'person-keys.sqlite'), randomBytes(32));
  const raw = new SqliteEventStore(join(temp.path, 'events.sqlite'));
  const store = new EvolvingEventStore(raw, new UnreadableEvents(), eventReader, new PersonalDataCipher(keys));
  try {
    await run({ keys, raw, store });
  } finally {
    await store.close();
    keys.close();
    temp.remove();
  }
}

describe('the encrypting event store (crypto-shredding)', () => {
  const temp = tempDir();
  let raw: SqliteEventStore;
  let keys: PersonKeys;
  // The production read and write path: EvolvingEventStore with the cipher (src/service.ts openStores).
  let store: EvolvingEventStore;
  const wrappingKey = randomBytes(32);
  const alice = { id: 'a1b2c3d4-0000-4000-8000-000000000001', subject: 'zq7-erasable-alice@example.com', name: 'zq7-alice-name' };
  const bob = { id: 'a1b2c3d4-0000-4000-8000-000000000002', subject: 'zq7-kept-bob@example.com', name: 'zq7-bob-name' };

  before(async () => {
    raw = new SqliteEventStore(join(temp.path, 'events.sqlite'));
    keys = new PersonKeys(join(temp.path, 'person-keys.sqlite'), wrappingKey);
    store = new EvolvingEventStore(raw, new UnreadableEvents(), eventReader, new PersonalDataCipher(keys));
    await store.appendToStream(`user-${alice.id}`, [userEvent(alice.id, alice.subject, alice.name)], { expectedRevision: 'no_stream' });
    await store.appendToStream(`user-${bob.id}`, [userEvent(bob.id, bob.subject, bob.name)], { expectedRevision: 'no_stream' });
    // Alice acts herself: her email as the actor is hers too.
    const login = testEvent('user.login.succeeded', { userId: alice.id, organizationId: 'org-1', method: 'password', sourceAddress: '203.0.113.77', userAgent: 'zq7-agent/1.0' });
    await store.appendToStream(`userlogins-${alice.id}`, [{ ...login, metadata: { ...login.metadata, actor: { subject: alice.subject, kind: 'user', id: alice.id } } }], { expectedRevision: 'any' });
  });
  after(async () => {
    await store.close();
    keys.close();
    temp.remove();
  });

  test('stored: envelopes in every mapped field and the user actor, never the plaintext', async () => {
    const stored = await raw.readAll();
    const text = json(stored);
    for (const secret of [alice.subject, alice.name, bob.subject, '203.0.113.77', 'zq7-agent', `${alice.name}-team`]) assert.ok(!text.includes(secret), secret);
    const data = stored[0]!.data as Record<string, any>;
    // Version 3: one envelope per event, in the first field (name), the others its places in it (#1, #2, ...); the person is the event's userId.
    assert.match(data.name, /^pd:v3:[A-Za-z0-9_-]{40,}$/);
    assert.deepEqual([data.description, data.subject, data.tags[0].name, data.tags[0].value], [1, 2, 3, 4].map((i) => `${ENVELOPE_V3_PREFIX}#${i}`));
    assert.ok(!json(stored[0]!.data).replace(`"userId":"${alice.id}"`, '').includes(alice.id), 'the id is not repeated in the fields');
    assert.equal(data.userId, alice.id, 'ids stay in clear');
    assert.equal(data.state, 'active');
    assert.ok(stored[2]!.metadata.actor.subject.startsWith(`${ACTOR_ENVELOPE_PREFIX}${alice.id}:`));
  });

  test('read: the plaintext, by stream, from the log and through a subscription', async () => {
    const [created] = await store.readStream(`user-${alice.id}`);
    assert.equal((created!.data as any).subject, alice.subject);
    assert.equal((created!.data as any).name, alice.name);
    assert.deepEqual((created!.data as any).tags, [{ name: 'team', value: `${alice.name}-team` }]);
    const all = await store.readAll();
    assert.equal(all[2]!.metadata.actor.subject, alice.subject);
    assert.equal((all[2]!.data as any).sourceAddress, '203.0.113.77');
    const seen = await firstSubscribed(store, 3);
    assert.equal((seen[1]!.data as any).subject, bob.subject);
  });

  test('an envelope copied into another person\'s event does not open there', async () => {
    const [aliceStored] = await raw.readStream(`user-${alice.id}`);
    const copied = (aliceStored!.data as any).subject as string;
    // Written past the cipher, as a forger with write access to the file would.
    await raw.appendToStream(`user-${bob.id}`, [testEvent('user.updated', { ...(aliceStored!.data as object), userId: bob.id, description: copied })], { expectedRevision: 'any' });
    const [, forged] = await store.readStream(`user-${bob.id}`);
    // The envelope names Alice, but its additional data (field path) is the subject's: it stays sealed in the description.
    assert.notEqual((forged!.data as any).description, alice.subject);
  });

  test('v3 envelopes moved, reordered or given to another person do not open: each field reads as stored, never as another field\'s plaintext', async () => {
    const cipher = new PersonalDataCipher(keys);
    const [aliceStored] = await raw.readStream(`user-${alice.id}`);
    const data = aliceStored!.data as any;
    const opened = (changes: { type?: string; data: Record<string, unknown> }) => cipher.open({ ...aliceStored!, type: changes.type ?? aliceStored!.type, data: changes.data }).data as any;
    // As stored, it opens (so the cases below fail for the change alone).
    assert.equal(opened({ data }).subject, alice.subject);
    // The subject's and the description's places swapped (a forger editing the file): both read as stored.
    const swapped = opened({ data: { ...data, subject: data.description, description: data.subject } });
    assert.deepEqual([swapped.subject, swapped.description, swapped.name], [data.description, data.subject, data.name]);
    // The sealed envelope under another event type (its additional data names user.created).
    const retyped = opened({ type: 'user.updated', data });
    assert.deepEqual([retyped.name, retyped.subject], [data.name, data.subject]);
    // A tag dropped: the set of sealed fields is bound too.
    const untagged = opened({ data: { ...data, tags: [] } });
    assert.deepEqual([untagged.name, untagged.subject], [data.name, data.subject]);
    // The whole sealed data under another person's id (the envelope names nobody: the event's userId is bound in the additional data).
    const reassigned = opened({ data: { ...data, userId: bob.id } });
    assert.deepEqual([reassigned.name, reassigned.subject], [data.name, data.subject]);
    // One byte of the ciphertext changed.
    const last = data.name.at(-1) === 'A' ? 'B' : 'A';
    assert.equal(opened({ data: { ...data, name: `${data.name.slice(0, -1)}${last}` } }).subject, data.subject);
  });

  test('events sealed by version 1 (one envelope per field) still open, and read [erased] once the key is gone', async () => {
    const carol = { id: 'a1b2c3d4-0000-4000-8000-000000000003', subject: 'zq7-v1-carol@example.com', name: 'zq7-v1-carol' };
    // A key for Carol, made the ordinary way; her event written as version 1 wrote it (an independent implementation here).
    await store.appendToStream(`user-${carol.id}-v2`, [userEvent(carol.id, 'zq7-carol-other@example.com', 'zq7-carol-other')], { expectedRevision: 'no_stream' });
    const found = keys.lookup(carol.id);
    assert.equal(found.state, 'live');
    const key = (found as { key: Buffer }).key;
    const v1 = (type: string, path: string, plaintext: string) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
      cipher.setAAD(Buffer.from(`${carol.id}\n${type}\n${path}`, 'utf8'));
      return `${ENVELOPE_PREFIX}${carol.id}:${Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url')}`;
    };
    const sealed = {
      userId: carol.id,
      organizationId: 'org-1',
      name: v1('user.created', 'name', carol.name),
      description: v1('user.created', 'description', 'v1 description'),
      tags: [{ name: v1('user.created', 'tags[].name', 'team'), value: v1('user.created', 'tags[].value', 'v1-team') }],
      subject: v1('user.created', 'subject', carol.subject),
      state: 'active',
    };
    const login = testEvent('user.login.succeeded', { userId: carol.id, organizationId: 'org-1', method: 'password', sourceAddress: v1('user.login.succeeded', 'sourceAddress', '198.51.100.9'), userAgent: 'plain-agent' });
    await raw.appendToStream(`user-${carol.id}`, [testEvent('user.created', sealed)], { expectedRevision: 'no_stream' });
    await raw.appendToStream(`userlogins-${carol.id}`, [{ ...login, metadata: { ...login.metadata, actor: { subject: v1('user.login.succeeded', 'metadata.actor.subject', carol.subject), kind: 'user', id: carol.id } } }], {
      expectedRevision: 'no_stream',
    });
    const [created] = await store.readStream(`user-${carol.id}`);
    assert.deepEqual(
      { name: (created!.data as any).name, description: (created!.data as any).description, subject: (created!.data as any).subject, tags: (created!.data as any).tags },
      { name: carol.name, description: 'v1 description', subject: carol.subject, tags: [{ name: 'team', value: 'v1-team' }] },
    );
    const [loggedIn] = await store.readStream(`userlogins-${carol.id}`);
    assert.equal((loggedIn!.data as any).sourceAddress, '198.51.100.9');
    assert.equal(loggedIn!.metadata.actor.subject, carol.subject);
    keys.destroy(carol.id);
    const [erased] = await store.readStream(`user-${carol.id}`);
    assert.equal((erased!.data as any).subject, ERASED);
    assert.deepEqual((erased!.data as any).tags, [{ name: ERASED, value: ERASED }]);
    const [erasedLogin] = await store.readStream(`userlogins-${carol.id}`);
    assert.equal(erasedLogin!.metadata.actor.subject, ERASED);
  });

  test('events sealed by version 2 (the person\'s id in every field) still open, and read [erased] once the key is gone', async () => {
    const dave = { id: 'a1b2c3d4-0000-4000-8000-000000000004', subject: 'zq7-v2-dave@example.com', name: 'zq7-v2-dave' };
    await store.appendToStream(`user-${dave.id}-v3`, [userEvent(dave.id, 'zq7-dave-other@example.com', 'zq7-dave-other')], { expectedRevision: 'no_stream' });
    const found = keys.lookup(dave.id);
    assert.equal(found.state, 'live');
    const key = (found as { key: Buffer }).key;
    // Version 2 as it was written (an independent implementation): the values as a JSON array under one AES-256-GCM,
    // bound to v2, the person, the type and each field's path; the other fields #i, each naming the person.
    const paths = ['name', 'description', 'subject', 'tags[].name', 'tags[].value'];
    const values = [dave.name, 'v2 description', dave.subject, 'team', 'v2-team'];
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    cipher.setAAD(Buffer.from(['v2', dave.id, 'user.created', ...paths].join('\n'), 'utf8'));
    const sealed = Buffer.concat([iv, cipher.update(JSON.stringify(values), 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url');
    const place = (i: number) => `${ENVELOPE_V2_PREFIX}${dave.id}:#${i}`;
    const data = { userId: dave.id, organizationId: 'org-1', name: `${ENVELOPE_V2_PREFIX}${dave.id}:${sealed}`, description: place(1), tags: [{ name: place(3), value: place(4) }], subject: place(2), state: 'active' };
    await raw.appendToStream(`user-${dave.id}`, [testEvent('user.created', data)], { expectedRevision: 'no_stream' });
    const [created] = await store.readStream(`user-${dave.id}`);
    assert.deepEqual(
      { name: (created!.data as any).name, description: (created!.data as any).description, subject: (created!.data as any).subject, tags: (created!.data as any).tags },
      { name: dave.name, description: 'v2 description', subject: dave.subject, tags: [{ name: 'team', value: 'v2-team' }] },
    );
    keys.destroy(dave.id);
    const [erased] = await store.readStream(`user-${dave.id}`);
    for (const field of ['name', 'description', 'subject']) assert.equal((erased!.data as any)[field], ERASED, field);
    assert.deepEqual((erased!.data as any).tags, [{ name: ERASED, value: ERASED }]);
  });

  test('an event stored before crypto-shredding (plaintext) reads as it is', async () => {
    await raw.appendToStream('user-legacy', [userEvent('legacy', 'legacy@example.com', 'legacy-name')], { expectedRevision: 'no_stream' });
    const [legacy] = await store.readStream('user-legacy');
    assert.equal((legacy!.data as any).subject, 'legacy@example.com');
  });

  test('destroying the key erases: [erased] everywhere, the stored bytes unchanged, other people untouched, the key gone from the files', async () => {
    const before = json(await raw.readAll());
    const db = new Database(join(temp.path, 'person-keys.sqlite'), { readonly: true });
    const wrapped = (db.prepare('SELECT wrapped FROM person_keys WHERE person_id = ?').get(alice.id) as { wrapped: Buffer }).wrapped;
    db.close();
    assert.equal(keys.destroy(alice.id), true);
    assert.equal(keys.destroy(alice.id), false, 'idempotent');
    assert.equal(json(await raw.readAll()), before, 'the log as stored (and hashed) is unchanged');
    const [created] = await store.readStream(`user-${alice.id}`);
    for (const field of ['subject', 'name', 'description']) assert.equal((created!.data as any)[field], ERASED, field);
    assert.deepEqual((created!.data as any).tags, [{ name: ERASED, value: ERASED }]);
    const all = await store.readAll();
    assert.equal(all[2]!.metadata.actor.subject, ERASED);
    assert.equal((all[2]!.data as any).userAgent, ERASED);
    const [bobs] = await store.readStream(`user-${bob.id}`);
    assert.equal((bobs!.data as any).subject, bob.subject);
    // A late event about an erased person is stored erased, never in clear, and makes no new key.
    await store.appendToStream(`user-${alice.id}`, [testEvent('user.deleted', { userId: alice.id, organizationId: 'org-1', subject: alice.subject })], { expectedRevision: 'any' });
    assert.equal(keys.lookup(alice.id).state, 'destroyed');
    // No copy of the wrapped key in person-keys.sqlite or its WAL (secure_delete, checkpoint TRUNCATE); no plaintext anywhere.
    const files = readdirSync(temp.path).filter((file) => file.startsWith('person-keys'));
    for (const file of files) assert.ok(!readFileSync(join(temp.path, file)).includes(wrapped), `${file} still holds the wrapped key`);
    assert.deepEqual(filesHolding(temp.path, [alice.subject, alice.name]), []);
  });

  test('the keys survive a reopen; a wrong wrapping key opens none', async () => {
    const reopened = new PersonKeys(join(temp.path, 'person-keys.sqlite'), wrappingKey);
    const reader = new EvolvingEventStore(raw, new UnreadableEvents(), eventReader, new PersonalDataCipher(reopened));
    const [bobs] = await reader.readStream(`user-${bob.id}`);
    assert.equal((bobs!.data as any).subject, bob.subject);
    reopened.close();
    const wrong = new PersonKeys(join(temp.path, 'person-keys.sqlite'), randomBytes(32));
    assert.throws(() => wrong.lookup(bob.id));
    wrong.close();
  });
});

describe('person keys made for concurrent appends', () => {
  test('the keys of 50 concurrent first events are made in one write, each event sealed under its own person\'s key; an erased person gets none', async () => {
    await withSealingStore(async ({ keys, raw, store }) => {
      const erased = 'e0000000-0000-4000-8000-000000000000';
      keys.destroy(erased);
      const ids = Array.from({ length: 50 }, (_, i) => `c0000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
      const writesBefore = keys.stats.keyWrites;
      await Promise.all([...ids, erased].map((id, i) => store.appendToStream(`user-${id}`, [userEvent(id, `batch-${i}@example.com`, `batch-${i}`)], { expectedRevision: 'no_stream' })));
      // One durable write made all of them (one per key before).
      assert.equal(keys.stats.keyWrites - writesBefore, 1);
      for (const id of ids) assert.equal(keys.lookup(id).state, 'live');
      assert.equal(keys.lookup(erased).state, 'destroyed', 'an erased person never gets a new key');
      const read = await store.readStream(`user-${ids[7]}`);
      assert.equal((read[0]!.data as { subject: string }).subject, 'batch-7@example.com');
      const stored = await raw.readStream(`user-${erased}`);
      assert.equal((stored[0]!.data as { subject: string }).subject, ERASED);
    });
  });
});

describe("an actor's envelope (a1)", () => {
  test('sealed once for all of an actor\'s events, whatever their type; opens only as that actor\'s subject; a new subject is sealed anew; erased reads [erased]', async () => {
    await withSealingStore(async ({ keys, raw, store }) => {
      const dave = { id: 'a1b2c3d4-0000-4000-8000-00000000000d', subject: 'zq7-actor-dave@example.com' };
      const erin = { id: 'a1b2c3d4-0000-4000-8000-00000000000e', subject: 'zq7-actor-erin@example.com' };
      const by = (who: { id: string; subject: string }, event: NewEvent): NewEvent => ({ ...event, metadata: { ...event.metadata, eventId: randomUUID(), actor: { kind: 'user', id: who.id, subject: who.subject } } });
      const acts = [
        testEvent('group.created', { groupId: 'g-1', organizationId: 'org-1', name: 'team', roleIDs: [] }),
        testEvent('group.user.added', { groupId: 'g-1', organizationId: 'org-1', userId: 'u-1' }),
        testEvent('group.user.added', { groupId: 'g-1', organizationId: 'org-1', userId: 'u-2' }),
      ];
      for (const [i, act] of acts.entries()) await store.appendToStream(`group-g-1-${i}`, [by(dave, act)], { expectedRevision: 'any' });
      await store.appendToStream('group-g-1-3', [by(erin, acts[1]!)], { expectedRevision: 'any' });
      await store.appendToStream('group-g-1-4', [by({ ...dave, subject: 'zq7-actor-dave-renamed@example.com' }, acts[2]!)], { expectedRevision: 'any' });
      const stored = await raw.readAll();
      const subjects = stored.map((event) => event.metadata.actor.subject as string);
      assert.ok(!json(stored).includes('zq7-actor-'), 'no actor email in clear');
      assert.ok(subjects[0]!.startsWith(`${ACTOR_ENVELOPE_PREFIX}${dave.id}:`));
      assert.equal(new Set(subjects.slice(0, 3)).size, 1, "one envelope for the actor's three events of two types");
      assert.notEqual(subjects[3], subjects[0], "another actor's is their own");
      assert.notEqual(subjects[4], subjects[0], 'a new subject is sealed anew');
      assert.deepEqual(
        (await store.readAll()).map((event) => event.metadata.actor.subject),
        [dave.subject, dave.subject, dave.subject, erin.subject, 'zq7-actor-dave-renamed@example.com'],
      );
      // Written past the cipher, as a forger with write access to the file would: Dave's envelope as Erin's subject, and in a data field.
      const cipher = new PersonalDataCipher(keys);
      const asErin = cipher.open({ ...stored[3]!, metadata: { ...stored[3]!.metadata, actor: { ...stored[3]!.metadata.actor, subject: subjects[0]! } } });
      assert.equal(asErin.metadata.actor.subject, subjects[0], "not opened as another actor's subject");
      const user = cipher.open({ ...stored[0]!, type: 'user.updated', data: { userId: dave.id, organizationId: 'org-1', name: subjects[0], tags: [], subject: subjects[0], state: 'active' } });
      assert.notEqual((user.data as { subject: string }).subject, dave.subject, 'not opened in a data field');
      keys.destroy(dave.id);
      assert.deepEqual(
        (await store.readAll()).map((event) => event.metadata.actor.subject),
        [ERASED, ERASED, ERASED, erin.subject, ERASED],
      );
      // Dave acting again after his erasure (a late event): never sealed under a key made anew, and never the kept envelope.
      await store.appendToStream('group-g-1-5', [by(dave, acts[1]!)], { expectedRevision: 'any' });
      const [late] = await raw.readStream('group-g-1-5');
      assert.equal(late!.metadata.actor.subject, ERASED);
    });
  });
});

describe('events opened once for every reader', () => {
  test('given a sealed event read by several subscribers, then it is opened once and shared; after an erasure the next read says [erased]', async () => {
    await withSealingStore(async ({ keys, raw, store }) => {
      const frank = { id: 'a1b2c3d4-0000-4000-8000-00000000000f', subject: 'zq7-shared-frank@example.com' };
      const grace = { id: 'a1b2c3d4-0000-4000-8000-000000000010', subject: 'zq7-shared-grace@example.com' };
      await store.appendToStream(`user-${frank.id}`, [userEvent(frank.id, frank.subject, 'frank')], { expectedRevision: 'no_stream' });
      await store.appendToStream(`user-${grace.id}`, [userEvent(grace.id, grace.subject, 'grace')], { expectedRevision: 'no_stream' });
      // Two subscribers, as the projections and a process manager: the adapter hands both the same stored objects.
      const firstTwo = () => firstSubscribed(store, 2);
      const [one, two] = await Promise.all([firstTwo(), firstTwo()]);
      assert.equal((one[0]!.data as { subject: string }).subject, frank.subject);
      assert.equal(one[0], two[0], 'opened once, the same event for both');
      const [storedFrank, storedGrace] = await raw.readAll();
      const opened = store.read(storedFrank!);
      assert.equal(store.read(storedFrank!), opened, 'a stored object read again is not opened again');
      keys.destroy(frank.id);
      assert.equal((store.read(storedFrank!).data as { subject: string }).subject, ERASED, 'the read after an erasure');
      assert.equal((store.read(storedGrace!).data as { subject: string }).subject, grace.subject, 'another person is untouched');
      const [again] = await firstTwo();
      assert.equal((again!.data as { subject: string }).subject, ERASED, 'through a subscription too');
    });
  });
});

describe('the person keys cache is bounded', () => {
  test('past the bound the oldest keys leave memory and are read from the file again; an erased one never comes back', async () => {
    const temp = tempDir();
    const keys = new PersonKeys(join(temp.path, 'person-keys.sqlite'), randomBytes(32), 2);
    try {
      const ids = ['k1', 'k2', 'k3'].map((n) => `b0000000-0000-4000-8000-0000000000${n.slice(1).padStart(2, '0')}`);
      await keys.makeKeys(ids);
      const first = Buffer.from((keys.lookup(ids[0]!) as { key: Buffer }).key);
      const unwraps = keys.stats.unwraps;
      // ids[0] was read last, so ids[1] left; reading it again unwraps it from the file.
      assert.equal(keys.lookup(ids[1]!).state, 'live');
      assert.equal(keys.stats.unwraps, unwraps + 1, 'read from the file again');
      assert.equal(keys.lookup(ids[1]!).state, 'live');
      assert.equal(keys.stats.unwraps, unwraps + 1, 'then from memory');
      // Asking to make keys for persons who have one (out of memory or not) writes nothing.
      const writes = keys.stats.keyWrites;
      await keys.makeKeys(ids);
      assert.equal(keys.stats.keyWrites, writes);
      assert.ok((keys.lookup(ids[0]!) as { key: Buffer }).key.equals(first), 'the same key after leaving memory');
      keys.destroy(ids[0]!);
      assert.equal(keys.lookup(ids[0]!).state, 'destroyed');
      assert.equal(keys.keyFor(ids[0]!), undefined, 'no new key for an erased person');
    } finally {
      keys.close();
      temp.remove();
    }
  });
});

