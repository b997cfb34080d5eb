import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KeyedIdPool } from '../../../src/infra/crypto/keyed-id-pool.js';
import { PersonKeys } from '../../../src/infra/crypto/person-keys.js';
import { tempDir } from '../../support/temp.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A pool of `batch` over a real key file in a temp folder; everything closed and removed after. */
async function withPool(batch: number, run: (context: { keys: PersonKeys; pool: KeyedIdPool }) => Promise<void>): Promise<void> {
  const temp = tempDir();
  const keys = new PersonKeys(join(temp.path, 'person-keys.sqlite'), randomBytes(32));
  const pool = new KeyedIdPool(keys, undefined, batch);
  try {
    await run({ keys, pool });
  } finally {
    await pool.close();
    keys.close();
    temp.remove();
  }
}

describe('new persons\' ids with their keys made ahead (KeyedIdPool)', () => {
  test('given an empty pool, when ids are taken, then the first is a plain id and the rest come with a key, a batch per durable write', async () => {
    await withPool(8, async ({ keys, pool }) => {
      const first = pool.take();
      assert.match(first, UUID);
      assert.equal(keys.lookup(first).state, 'none', 'nothing was ready: a plain id, its key made with its first event');
      const writes = keys.stats.keyWrites;
      await pool.refill();
      assert.equal(keys.stats.keyWrites - writes, 1, 'one durable write for the batch');
      assert.equal(pool.size, 8);
      const taken = Array.from({ length: 4 }, () => pool.take());
      for (const id of taken) {
        assert.match(id, UUID);
        assert.equal(keys.lookup(id).state, 'live', 'its key is made already');
      }
      // Half gone: the next batch was started by the take that left half.
      await pool.refill();
      assert.equal(pool.size, 12);
      const all = [first, ...taken, ...Array.from({ length: 12 }, () => pool.take())];
      assert.equal(new Set(all).size, all.length, 'every id is handed out once');
    });
  });

  test('a person whose key was made ahead is erased as any other: the key is destroyed and never made again', async () => {
    await withPool(4, async ({ keys, pool }) => {
      await pool.refill();
      const id = pool.take();
      assert.equal(keys.lookup(id).state, 'live');
      assert.equal(keys.destroy(id), true);
      assert.equal(keys.lookup(id).state, 'destroyed');
      assert.equal(keys.keyFor(id), undefined);
      await keys.makeKeys([id]);
      assert.equal(keys.lookup(id).state, 'destroyed', 'making keys ahead never brings an erased person\'s back');
    });
  });

  test('the ids waiting live in memory only: after a restart none is handed out again', async () => {
    const temp = tempDir();
    const file = join(temp.path, 'person-keys.sqlite');
    const wrappingKey = randomBytes(32);
    const firstKeys = new PersonKeys(file, wrappingKey);
    const first = new KeyedIdPool(firstKeys, undefined, 16);
    await first.refill();
    const waiting = new Set(Array.from({ length: 16 }, () => first.take()));
    await first.close();
    firstKeys.close();
    const keys = new PersonKeys(file, wrappingKey);
    const pool = new KeyedIdPool(keys, undefined, 16);
    try {
      await pool.refill();
      const drawn = Array.from({ length: 16 }, () => pool.take());
      assert.ok(drawn.every((id) => !waiting.has(id)));
    } finally {
      await pool.close();
      keys.close();
      temp.remove();
    }
  });

  test('when the key store fails, take still answers (plain ids) and the failure is logged', async () => {
    const temp = tempDir();
    const keys = new PersonKeys(join(temp.path, 'person-keys.sqlite'), randomBytes(32));
    const warnings: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => warnings.push(args) } as never;
    const pool = new KeyedIdPool(keys, logger, 4);
    keys.close(); // every write now throws
    try {
      const id = pool.take();
      assert.match(id, UUID);
      await pool.refill();
      assert.equal(pool.size, 0);
      assert.equal(warnings.length, 1);
    } finally {
      await pool.close();
      temp.remove();
    }
  });
});
