import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { eventLeafHash } from '../../src/domain/ledger/leaf.js';
import { TOMBSTONE_EVENT_TYPE } from '../../src/domain/retention.js';
import { type ExportLine, exportLineOf } from '../../src/infra/ledger/export-line.js';
import { SqliteMerkleTree } from '../../src/infra/ledger/sqlite-merkle-tree.js';
import { type KeptTreeHead, verifyExport } from '../../src/infra/ledger/verifier.js';
import { parsePosition } from '../../src/ports/event-store.js';
import { startTestServer } from '../support/server.js';
import { populatedOrganization } from '../support/tenants.js';
import { tempDir } from '../support/temp.js';

const AUDIT_VERIFY = fileURLToPath(new URL('../../scripts/audit-verify.js', import.meta.url));

describe('the offline verifier of an NDJSON export names the position of every tampering', () => {
  const work = tempDir();
  const dataDir = join(work.path, 'data');
  let kept: KeptTreeHead;
  let jwks: any;
  /** The honest export: every row of the log as stored, through exportLineOf. */
  let honest: ExportLine[];
  let treeLeaves: Buffer[];
  after(() => work.remove());

  before(async () => {
    const server = await startTestServer({ dataDir, env: { LEDGER_TREE_HEAD_SECONDS: '3600' } });
    await populatedOrganization(server, 'exported');
    await populatedOrganization(server, 'exported');
    const { events } = server.service.stores;
    assert.ok(await server.service.ledger.builder.waitFor(await events.headPosition(), 10_000));
    await server.service.ledger.heads.sign();
    kept = (await (await server.api('/api/v1/audit/tree-head')).json()) as KeptTreeHead;
    jwks = await (await fetch(`${server.baseUrl}/oauth2/v2/jwks`)).json();
    assert.ok(await server.service.ledger.builder.waitFor(await events.headPosition(), 10_000));
    await server.stop();

    const db = new Database(join(dataDir, 'events.sqlite'), { readonly: true });
    const rows = db.prepare('SELECT position, stream_name, revision, type, data, metadata FROM events ORDER BY position').all() as Array<{
      position: number;
      stream_name: string;
      revision: number;
      type: string;
      data: string;
      metadata: string;
    }>;
    db.close();
    honest = rows.map((row) =>
      exportLineOf({
        position: { commit: BigInt(row.position), prepare: BigInt(row.position) },
        streamName: row.stream_name,
        revision: row.revision,
        type: row.type,
        data: JSON.parse(row.data),
        metadata: JSON.parse(row.metadata),
      }),
    );
    const tree = new SqliteMerkleTree(join(dataDir, 'ledger.sqlite'));
    treeLeaves = Array.from({ length: tree.size() }, (_, i) => tree.leaf(i));
    tree.close();
    assert.ok(kept.tree_size > 20, `a head of ${kept.tree_size} leaves`);
  });

  /** Write lines as an NDJSON file; verify it against the kept head and the JWKS. */
  let files = 0;
  const verify = (lines: readonly (ExportLine | string)[], options: { heads?: KeptTreeHead[]; keys?: unknown } = {}) => {
    const file = join(work.path, `export-${++files}.ndjson`);
    writeFileSync(file, lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n') + '\n');
    return verifyExport({ file, jwks: (options.keys ?? jwks) as any, keptHeads: options.heads ?? [kept] });
  };
  const copy = (): ExportLine[] => honest.map((line) => structuredClone(line));
  /** An index in the signed part of the export whose data is an object with a string field. */
  const withName = (from: number): number => {
    for (let i = from; i < kept.tree_size; i++) {
      const data = honest[i]!.data as Record<string, unknown> | null;
      if (data && typeof data === 'object' && typeof (data as any).name === 'string') return i;
    }
    throw new Error('no event with a name');
  };

  test("one line's data changed, its leafHash kept: named by its position and line", async () => {
    const lines = copy();
    const at = withName(5);
    (lines[at]!.data as any).name = 'mallory';
    const report = await verify(lines);
    assert.equal(report.ok, false);
    assert.equal(report.firstDifference?.position, honest[at]!.position);
    assert.equal(report.firstDifference?.line, at + 1);
    assert.match(report.firstDifference!.reason, /differs from its leaf hash/);
    assert.ok(report.heads.every((h) => h.signature && !h.root), 'the root does not match either');
  });

  test('one line changed together with a recomputed leafHash: caught by the signed root', async () => {
    const lines = copy();
    const at = withName(5);
    (lines[at]!.data as any).name = 'mallory';
    lines[at] = exportLineOf({ ...lines[at]!, streamName: lines[at]!.stream, position: parsePosition(lines[at]!.position), metadata: lines[at]!.metadata as any });
    const report = await verify(lines);
    assert.equal(report.ok, false);
    assert.equal(report.recomputed, report.leaves, 'every line hashes to its own leafHash');
    assert.deepEqual(report.heads, [{ treeSize: kept.tree_size, signature: true, root: false }]);
    assert.equal(report.firstDifference?.position, honest[kept.tree_size - 1]!.position);
    assert.match(report.firstDifference!.reason, /does not match the signed tree head/);
  });

  test('a line removed: named by the missing position', async () => {
    const lines = copy();
    const at = 9;
    lines.splice(at, 1);
    const report = await verify(lines);
    assert.equal(report.ok, false);
    assert.equal(report.firstDifference?.position, honest[at]!.position);
    assert.equal(report.firstDifference?.line, at + 1);
  });

  test('two lines swapped: named by the first of them', async () => {
    const lines = copy();
    const [a, b] = [4, 11];
    [lines[a], lines[b]] = [lines[b]!, lines[a]!];
    const report = await verify(lines);
    assert.equal(report.ok, false);
    assert.equal(report.firstDifference?.position, honest[a]!.position);
  });

  test('two lines swapped with their positions renumbered: the leaf hashes no longer match', async () => {
    const lines = copy();
    const [a, b] = [6, 13];
    [lines[a], lines[b]] = [{ ...lines[b]!, position: honest[a]!.position }, { ...lines[a]!, position: honest[b]!.position }];
    const report = await verify(lines);
    assert.equal(report.ok, false);
    assert.equal(report.firstDifference?.position, honest[a]!.position);
  });

  test('the tail cut: the export is smaller than the signed tree, named by the first missing position', async () => {
    const cut = kept.tree_size - 3;
    const report = await verify(copy().slice(0, cut));
    assert.equal(report.ok, false);
    assert.equal(report.leaves, cut);
    assert.equal(report.firstDifference?.position, honest[cut]!.position);
    assert.match(report.firstDifference!.reason, /tail was cut/);
    assert.deepEqual(report.heads, [{ treeSize: kept.tree_size, signature: true, root: false }]);
  });

  test('a forged tree head (root changed) or a JWKS without the signing key fails the signature', async () => {
    const forged = { ...kept, root_hash: eventLeafHash({ position: { commit: 1n, prepare: 1n }, streamName: 'x', revision: 0, type: 'x', data: {}, metadata: {} as any }).toString('base64') };
    const report = await verify(copy(), { heads: [forged] });
    assert.equal(report.ok, false);
    assert.deepEqual(report.heads, [{ treeSize: kept.tree_size, signature: false, root: false }]);

    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const otherKeys = { keys: (jwks.keys as Array<{ kid: string }>).map((k) => ({ ...other, kid: k.kid, alg: 'ES256', use: 'sig' })) };
    const wrongKey = await verify(copy(), { keys: otherKeys });
    assert.equal(wrongKey.ok, false);
    assert.equal(wrongKey.heads[0]!.signature, false);
    assert.equal(wrongKey.heads[0]!.root, true, 'the tree itself is honest');
  });

  test('a line that is not JSON, or not an export line, is named', async () => {
    const lines: Array<ExportLine | string> = copy();
    lines[3] = '{"position": "4/4", "stream": ';
    const report = await verify(lines);
    assert.equal(report.ok, false);
    assert.equal(report.firstDifference?.line, 4);
    assert.match(report.firstDifference!.reason, /not JSON/);
    const shapes: Array<ExportLine | string> = copy();
    shapes[2] = JSON.stringify({ ...honest[2], leafHash: 'not base64' });
    const bad = await verify(shapes);
    assert.equal(bad.firstDifference?.line, 3);
    assert.match(bad.firstDifference!.reason, /leafHash/);
  });

  test('the honest export verifies, and its leaf hashes are the tree\'s leaves', async () => {
    assert.deepEqual(
      honest.slice(0, treeLeaves.length).map((line) => line.leafHash),
      treeLeaves.map((leaf) => leaf.toString('base64')),
    );
    const report = await verify(honest);
    assert.equal(report.firstDifference, undefined, report.firstDifference?.reason);
    assert.ok(report.ok);
    assert.equal(report.lines, honest.length);
    assert.equal(report.recomputed, honest.length);
    assert.equal(report.checkedByHashOnly, 0);
    assert.deepEqual(report.heads, [{ treeSize: kept.tree_size, signature: true, root: true }]);
  });

  test('extra fields of the API export (time, actor, resource...) are ignored', async () => {
    const report = await verify(honest.map((line) => ({ ...line, time: '2026-01-01T00:00:00Z', actor: { kind: 'system', id: 'x', name: null } })));
    assert.ok(report.ok, report.firstDifference?.reason);
  });

  test('a line showing [erased] without its stored form is checked by its hash only (a forged hash on it is caught by the root); a changed envelope is not', async () => {
    const lines = copy();
    const [erased, encrypted] = [withName(3), withName(withName(3) + 1)];
    (lines[erased]!.data as any).name = '[erased]';
    const report = await verify(lines);
    assert.ok(report.ok, report.firstDifference?.reason);
    assert.equal(report.checkedByHashOnly, 1);
    assert.equal(report.recomputed, honest.length - 1);

    // Sealed envelopes are the stored form: they always hash again, so one changed is named.
    const sealed = copy();
    (sealed[encrypted]!.data as any).name = 'pd:v1:0f0e:AAAA';
    const changed = await verify(sealed);
    assert.equal(changed.ok, false);
    assert.equal(changed.firstDifference?.position, honest[encrypted]!.position);

    lines[erased]!.leafHash = eventLeafHash({ position: parsePosition(lines[erased]!.position), streamName: 'x', revision: 0, type: 'x', data: {}, metadata: {} as any }).toString('base64');
    const forged = await verify(lines);
    assert.equal(forged.ok, false);
    assert.deepEqual(forged.heads, [{ treeSize: kept.tree_size, signature: true, root: false }]);
  });

  test('a retention tombstone keeps its place by the leaf hash it kept; one without it is passed over', async () => {
    const lines = copy();
    const at = 7;
    const original = honest[at]!;
    lines[at] = exportLineOf({
      position: parsePosition(original.position),
      streamName: original.stream,
      revision: original.revision,
      type: TOMBSTONE_EVENT_TYPE,
      data: { sha256: '00', leafHash: original.leafHash },
      metadata: {} as any,
    });
    assert.equal(lines[at]!.leafHash, original.leafHash);
    const report = await verify(lines);
    assert.ok(report.ok, report.firstDifference?.reason);
    assert.equal(report.tombstones, 1);

    // A tombstone that kept a different leaf hash is caught by the root.
    lines[at] = { ...lines[at]!, leafHash: honest[at + 1]!.leafHash };
    assert.equal((await verify(lines)).ok, false);

    // One that kept none is no leaf: the tree then lacks the event it replaced.
    lines[at] = { ...lines[at]!, data: { sha256: '00' }, leafHash: null };
    const without = await verify(lines);
    assert.equal(without.unverifiableTombstones, 1);
    assert.equal(without.ok, false);
  });

  test('npm run audit:verify -- --export: exit 0 on the honest export, 1 naming the position on a changed one', () => {
    const write = (name: string, value: unknown) => {
      const file = join(work.path, name);
      writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
      return file;
    };
    const jwksFile = write('jwks.json', jwks);
    const headFile = write('head.json', kept);
    const run = (lines: ExportLine[]) => {
      const file = write(`cli-${++files}.ndjson`, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
      return spawnSync(process.execPath, [AUDIT_VERIFY, '--export', file, '--jwks', jwksFile, '--tree-head', headFile], { encoding: 'utf8' });
    };
    const good = run(honest);
    assert.equal(good.status, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /OK: the export is the log that was signed/);
    const lines = copy();
    const at = withName(2);
    (lines[at]!.data as any).name = 'mallory';
    const bad = run(lines);
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.ok(bad.stdout.includes(`FAILED at position ${honest[at]!.position} (line ${at + 1})`), bad.stdout);
    const usage = spawnSync(process.execPath, [AUDIT_VERIFY, '--export', jwksFile], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
  });
});
