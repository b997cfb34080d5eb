import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { PgCheckpointStore } from '../../src/infra/postgres/pg-checkpoint-store.js';
import { PgIdempotencyStore } from '../../src/infra/postgres/pg-idempotency-store.js';
import { PgSnapshotStore } from '../../src/infra/postgres/pg-snapshot-store.js';
import { SqliteCheckpointStore } from '../../src/infra/sqlite/sqlite-checkpoint-store.js';
import { SqliteIdempotencyStore } from '../../src/infra/sqlite/sqlite-idempotency-store.js';
import { SqliteSnapshotStore } from '../../src/infra/sqlite/sqlite-snapshot-store.js';
import type { CheckpointStore } from '../../src/ports/checkpoints.js';
import type { IdempotencyStore } from '../../src/ports/idempotency.js';
import type { SnapshotStore } from '../../src/ports/snapshots.js';
import { freshDatabase, postgresSkipReason } from '../support/postgres.js';
import { tempDir } from '../support/temp.js';

/** One storage (a SQLite file, a PostgreSQL database) and the stores opened on it; each open is a new connection (another instance). */
interface Engine {
  readonly name: string;
  readonly skip?: string;
  checkpoints(): Promise<CheckpointStore>;
  snapshots(): Promise<SnapshotStore>;
  idempotency(): Promise<IdempotencyStore>;
}

const postgresSkip = await postgresSkipReason();
const dirs: Array<{ remove(): void }> = [];
after(() => dirs.forEach((dir) => dir.remove()));

const sqlite = async (): Promise<Engine> => {
  const dir = tempDir();
  dirs.push(dir);
  const file = join(dir.path, 'events.sqlite');
  return {
    name: 'SQLite',
    checkpoints: async () => new SqliteCheckpointStore(file),
    snapshots: async () => new SqliteSnapshotStore(file),
    idempotency: async () => new SqliteIdempotencyStore(file),
  };
};

const postgres = async (): Promise<Engine> => {
  const url = postgresSkip ? '' : await freshDatabase();
  return {
    name: 'PostgreSQL',
    skip: postgresSkip,
    checkpoints: () => PgCheckpointStore.open(url),
    snapshots: () => PgSnapshotStore.open(url),
    idempotency: () => PgIdempotencyStore.open(url),
  };
};

for (const engine of [await sqlite(), await postgres()]) {
  describe(`checkpoint, snapshot and idempotency stores: ${engine.name}`, { skip: engine.skip }, () => {
    test('a checkpoint saved is loaded, replaced by the next save, and survives a reopen', async () => {
      const first = await engine.checkpoints();
      assert.equal(await first.load('pm'), undefined);
      await first.save('pm', { commit: 7n, prepare: 7n });
      await first.save('pm', { commit: 12n, prepare: 11n });
      await first.save('other', { commit: 1n, prepare: 1n });
      await first.close();
      const second = await engine.checkpoints();
      assert.deepEqual(await second.load('pm'), { commit: 12n, prepare: 11n });
      assert.deepEqual(await second.load('other'), { commit: 1n, prepare: 1n });
      await second.close();
    });

    test('a snapshot is loaded whole; an older one is ignored; a newer one replaces it; versions are apart', async () => {
      const store = await engine.snapshots();
      try {
        assert.equal(await store.load('org-1', 'v1'), undefined);
        const chunks = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i }));
        await store.save('org-1', 'v1', { revision: 10, chunks });
        assert.deepEqual(await store.load('org-1', 'v1'), { revision: 10, chunks });
        await store.save('org-1', 'v1', { revision: 5, chunks: ['"old"'] });
        assert.equal((await store.load('org-1', 'v1'))?.revision, 10, 'an older snapshot does not replace a newer one');
        await store.save('org-1', 'v1', { revision: 30, chunks: ['"new"'] });
        assert.deepEqual(await store.load('org-1', 'v1'), { revision: 30, chunks: ['"new"'] });
        assert.equal(await store.load('org-1', 'v2'), undefined);
        await assert.rejects(store.save('org-1', 'v1', { revision: 40, chunks: [] }));
      } finally {
        await store.close();
      }
      const reopened = await engine.snapshots();
      assert.deepEqual(await reopened.load('org-1', 'v1'), { revision: 30, chunks: ['"new"'] });
      await reopened.close();
    });

    test('of 10 concurrent claims of one scope from two instances, exactly one wins; the others see the record', async () => {
      const [a, b] = [await engine.idempotency(), await engine.idempotency()];
      try {
        const now = Date.now();
        const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).claim('scope-1', 'hash', now, now - 60_000, now - 5_000)));
        assert.equal(claims.filter((c) => c.claimed).length, 1);
        for (const c of claims) if (!c.claimed) assert.deepEqual(c.record, { state: 'pending', requestHash: 'hash', createdAt: now });

        await a.complete('scope-1', { status: 201, headers: { location: '/x' }, sealedBody: 'sealed', bodyExpiresAt: now + 1000 });
        const done = await b.claim('scope-1', 'hash', now + 10, now - 60_000, now - 5_000);
        assert.deepEqual(done, {
          claimed: false,
          record: { state: 'done', requestHash: 'hash', createdAt: now, status: 201, headers: { location: '/x' }, sealedBody: 'sealed', bodyExpiresAt: now + 1000 },
        });
        // Past its expiry the body is gone from the answer, before and after the purge.
        const expired = await b.claim('scope-1', 'hash', now + 2000, now - 60_000, now - 5_000);
        assert.ok(!expired.claimed && expired.record.state === 'done' && expired.record.sealedBody === undefined);

        // A pending claim left by a crash is taken over once older than pendingSince; a released one at once.
        await a.claim('scope-2', 'h2', now, now - 60_000, now - 5_000);
        assert.equal((await b.claim('scope-2', 'h2', now + 1, now - 60_000, now - 5_000)).claimed, false);
        assert.equal((await b.claim('scope-2', 'h2', now + 10_000, now - 60_000, now + 1)).claimed, true);
        await b.release('scope-2');
        assert.equal((await a.claim('scope-2', 'h3', now + 10_001, now - 60_000, now)).claimed, true);

        // Records older than retainSince are purged; erasure drops what it is told mentions the person.
        await a.purge(now + 2000, now + 1);
        assert.equal((await a.claim('scope-1', 'hash', now + 3000, now - 60_000, now)).claimed, true, 'the old record was purged');
        await a.complete('scope-1', { status: 200, headers: {}, sealedBody: 'about-alice' });
        assert.equal(await a.forget?.((_scope, body) => body === 'about-alice'), 1);
        assert.equal((await b.claim('scope-1', 'hash', now + 3001, now - 60_000, now)).claimed, true);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}
