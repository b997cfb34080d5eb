import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LedgerBuilder } from '../../src/infra/ledger/ledger-builder.js';
import { SqliteMerkleTree } from '../../src/infra/ledger/sqlite-merkle-tree.js';
import { type KeptTreeHead, verifyDataDirectory } from '../../src/infra/ledger/verifier.js';
import { createLogger } from '../../src/infra/logger.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { startTestServer } from '../support/server.js';
import { createOrganization, serviceAccountWithRoles } from '../support/tenants.js';
import { tempDir } from '../support/temp.js';

describe('the offline verifier names the position of every tampering', () => {
  const work = tempDir();
  const honest = join(work.path, 'honest');
  let kept: KeptTreeHead;
  let jwks: any;
  let positions: number[];
  after(() => work.remove());

  before(async () => {
    const server = await startTestServer({ dataDir: honest, env: { LEDGER_TREE_HEAD_SECONDS: '3600' } });
    const org = await createOrganization(server, 'verified');
    await serviceAccountWithRoles(server, org, ['administrator']);
    await createOrganization(server, 'verified-2');
    await new Promise((resolve) => setTimeout(resolve, 200)); // provisioning follows creation
    const { events } = server.service.stores;
    assert.ok(await server.service.ledger.builder.waitFor(await events.headPosition(), 10_000));
    await server.service.ledger.heads.sign();
    kept = (await (await server.api('/api/v1/audit/tree-head')).json()) as KeptTreeHead;
    jwks = await (await fetch(`${server.baseUrl}/oauth2/v2/jwks`)).json();
    assert.ok(await server.service.ledger.builder.waitFor(await events.headPosition(), 10_000));
    await server.stop();
    const db = new Database(join(honest, 'events.sqlite'), { readonly: true });
    positions = (db.prepare('SELECT position FROM events ORDER BY position').all() as Array<{ position: number }>).map((r) => r.position);
    db.close();
    assert.ok(positions.length > 12, `${positions.length} events`);
  });

  /** A copy of the honest data directory, changed by `tamper` through SQLite. */
  const tampered = (name: string, tamper: (db: Database.Database) => void) => {
    const dir = join(work.path, name);
    rmSync(dir, { recursive: true, force: true });
    cpSync(honest, dir, { recursive: true });
    const db = new Database(join(dir, 'events.sqlite'));
    tamper(db);
    db.close();
    return dir;
  };

  test('the honest log verifies: every leaf, the stored heads and the kept head with the JWKS', async () => {
    const report = await verifyDataDirectory({ dataDir: honest, jwks, keptHeads: [kept] });
    assert.equal(report.firstDifference, undefined);
    assert.ok(report.ok);
    assert.equal(report.events, positions.length);
    assert.ok(report.heads.length >= 2 && report.heads.every((h) => h.signature && h.root));
  });

  test("one event's data changed", async () => {
    const target = positions[7]!;
    const dir = tampered('changed', (db) => db.prepare(`UPDATE events SET data = json_set(data, '$.name', 'mallory') WHERE position = ?`).run(target));
    const report = await verifyDataDirectory({ dataDir: dir, jwks, keptHeads: [kept] });
    assert.equal(report.ok, false);
    assert.equal(report.firstDifference?.position, String(target));
    assert.ok(report.heads.some((h) => h.source === 'kept' && !h.root));
  });

  test('a row deleted', async () => {
    const target = positions[5]!;
    const dir = tampered('deleted', (db) => db.prepare('DELETE FROM events WHERE position = ?').run(target));
    const report = await verifyDataDirectory({ dataDir: dir, jwks, keptHeads: [kept] });
    assert.equal(report.ok, false);
    assert.equal(report.firstDifference?.position, String(target));
  });

  test('two rows swapped', async () => {
    const [a, b] = [positions[3]!, positions[9]!];
    const dir = tampered('swapped', (db) => {
      const row = db.prepare('SELECT stream_name, revision, event_id, type, data, metadata FROM events WHERE position = ?');
      const first = row.get(a) as any;
      const second = row.get(b) as any;
      const put = db.prepare('UPDATE events SET stream_name = ?, revision = ?, event_id = ?, type = ?, data = ?, metadata = ? WHERE position = ?');
      db.transaction(() => {
        db.prepare("UPDATE events SET stream_name = 'swap', revision = -1, event_id = 'swap' WHERE position = ?").run(a);
        put.run(first.stream_name, first.revision, first.event_id, first.type, first.data, first.metadata, b);
        put.run(second.stream_name, second.revision, second.event_id, second.type, second.data, second.metadata, a);
      })();
    });
    const report = await verifyDataDirectory({ dataDir: dir, jwks, keptHeads: [kept] });
    assert.equal(report.ok, false);
    assert.equal(report.firstDifference?.position, String(a));
  });

  test('the tail truncated', async () => {
    const cut = positions[positions.length - 4]!;
    const dir = tampered('truncated', (db) => db.prepare('DELETE FROM events WHERE position >= ?').run(cut));
    const report = await verifyDataDirectory({ dataDir: dir, jwks, keptHeads: [kept] });
    assert.equal(report.ok, false);
    assert.equal(report.firstDifference?.position, String(cut));
  });

  test('hashed on this thread, on one worker or on three in ranges of 3 positions: the same report for the honest log and each tampering', async () => {
    const dirs = [
      honest,
      tampered('changed-threads', (db) => db.prepare(`UPDATE events SET data = json_set(data, '$.name', 'mallory') WHERE position = ?`).run(positions[9]!)),
      tampered('deleted-threads', (db) => db.prepare('DELETE FROM events WHERE position = ?').run(positions[5]!)),
      tampered('truncated-threads', (db) => db.prepare('DELETE FROM events WHERE position >= ?').run(positions[positions.length - 2]!)),
      tampered('invalid-threads', (db) => db.prepare(`UPDATE events SET metadata = '{not json' WHERE position = ?`).run(positions[4]!)),
    ];
    const named = [undefined, String(positions[9]), String(positions[5]), String(positions[positions.length - 2]), String(positions[4])];
    for (const [i, dataDir] of dirs.entries()) {
      const reports = await Promise.all(
        [{ hashThreads: 0 }, { hashThreads: 1 }, { hashThreads: 3, hashChunk: 3 }].map(async (threads) => {
          const { seconds: _seconds, ...report } = await verifyDataDirectory({ dataDir, jwks, keptHeads: [kept], ...threads });
          return report;
        }),
      );
      assert.equal(reports[0]!.firstDifference?.position, named[i], dataDir);
      assert.deepEqual(reports[1], reports[0], `${dataDir}: one worker`);
      assert.deepEqual(reports[2], reports[0], `${dataDir}: three workers`);
    }
  });

  test('a history rewritten with a rebuilt tree still fails against the head the auditor kept', async () => {
    const target = positions[2]!;
    const dir = tampered('rewritten', (db) => db.prepare(`UPDATE events SET data = json_set(data, '$.name', 'mallory') WHERE position = ?`).run(target));
    rmSync(join(dir, 'ledger.sqlite'));
    const events = new SqliteEventStore(join(dir, 'events.sqlite'));
    const tree = new SqliteMerkleTree(join(dir, 'ledger.sqlite'));
    const builder = new LedgerBuilder(events, tree, createLogger('silent'));
    builder.start();
    assert.ok(await builder.waitFor(await events.headPosition(), 10_000));
    await builder.stop();
    tree.close();
    await events.close();
    const report = await verifyDataDirectory({ dataDir: dir, jwks, keptHeads: [kept] });
    assert.equal(report.ok, false);
    const head = report.heads.find((h) => h.source === 'kept');
    assert.ok(head && head.signature && !head.root, 'the kept head is genuine and does not match the rewritten log');
  });
});
