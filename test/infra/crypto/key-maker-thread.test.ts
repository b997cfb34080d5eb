import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { PersonKeys } from '../../../src/infra/crypto/person-keys.js';
import { tempDir } from '../../support/temp.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `c0000000-0000-4000-8000-${String(i).padStart(12, '0')}`);

describe("persons' keys made on the key maker's thread", () => {
  test('given keys made in one batch, when the file is opened again, then each person has the key that was cached, and nothing is written twice', async () => {
    const temp = tempDir();
    const file = join(temp.path, 'person-keys.sqlite');
    const wrappingKey = randomBytes(32);
    const keys = new PersonKeys(file, wrappingKey);
    try {
      const persons = ids(40);
      await keys.makeKeys(persons);
      assert.equal(keys.stats.keyWrites, 1, 'one durable write for the batch');
      assert.equal(keys.stats.unwraps, 0, 'the keys made are cached as made, not read back');
      const cached = persons.map((id) => Buffer.from((keys.lookup(id) as { key: Buffer }).key));
      assert.equal(new Set(cached.map((key) => key.toString('hex'))).size, persons.length, 'a key of its own for each person');
      await keys.makeKeys(persons);
      assert.equal(keys.stats.keyWrites, 1, 'persons with a key are not written again');
      const reopened = new PersonKeys(file, wrappingKey);
      try {
        // Keys not in this process's memory are in the file: read back, never made anew.
        await reopened.makeKeys(persons);
        assert.equal(reopened.stats.keyWrites, 0);
        persons.forEach((id, i) => assert.ok((reopened.lookup(id) as { key: Buffer }).key.equals(cached[i]!), `the key of ${id} as the file keeps it`));
      } finally {
        reopened.close();
      }
    } finally {
      keys.close();
      temp.remove();
    }
  });

  test('given a person erased while their key is being written, when the write comes back, then the key is never cached and none is made again', async () => {
    const temp = tempDir();
    const file = join(temp.path, 'person-keys.sqlite');
    const keys = new PersonKeys(file, randomBytes(32));
    const watcher = new Database(file, { readonly: true });
    try {
      const [person] = ids(1);
      const making = keys.makeKeys([person!]);
      // The write starts on the next turn; then this thread holds the event loop (the reply cannot be handled)
      // until the other thread has committed the key, and erases the person before the reply is read.
      await new Promise((resolve) => setImmediate(resolve));
      const seen = watcher.prepare('SELECT 1 FROM person_keys WHERE person_id = ?');
      const deadline = Date.now() + 10_000;
      while (!seen.get(person!)) if (Date.now() > deadline) throw new Error('the key was never written');
      assert.equal(keys.destroy(person!), true, 'the key written by the other thread is destroyed');
      await making;
      assert.equal(keys.lookup(person!).state, 'destroyed');
      assert.equal(keys.keyFor(person!), undefined, 'no new key for an erased person');
      assert.equal(seen.get(person!), undefined, 'nothing of the key in the file');
    } finally {
      watcher.close();
      keys.close();
      temp.remove();
    }
  });

  test('given a closed key file, when keys are asked for, then the request fails instead of waiting', async () => {
    const temp = tempDir();
    const keys = new PersonKeys(join(temp.path, 'person-keys.sqlite'), randomBytes(32));
    keys.close();
    try {
      await assert.rejects(keys.makeKeys(ids(2)));
    } finally {
      temp.remove();
    }
  });
});
