import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { READ_MODEL_SNAPSHOT_FILE } from '../../src/infra/memory/read-model-snapshot.js';
import { type KeptTreeHead, verifyDataDirectory } from '../../src/infra/ledger/verifier.js';
import { createTenant, signIn, type Tenant } from '../support/oidc.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { serviceAccountWithRoles } from '../support/tenants.js';
import { tempDir } from '../support/temp.js';

/**
 * A byte search of every file under the folder (WAL, journal and shared-memory
 * files included; the gzipped read-model snapshot also unzipped) for each needle.
 */
function filesHolding(dir: string, needles: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        walk(path);
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = readFileSync(path);
      } catch {
        continue; // gone meanwhile (a temporary file)
      }
      const views = [bytes];
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
        try {
          views.push(gunzipSync(bytes));
        } catch {
          // half-written: the raw bytes are searched
        }
      }
      for (const needle of needles) {
        const forms = [Buffer.from(needle, 'utf8'), Buffer.from(needle.toLowerCase(), 'utf8'), Buffer.from(encodeURIComponent(needle.toLowerCase()), 'utf8')];
        if (views.some((view) => forms.some((form) => view.includes(form)))) found.push(`${path.slice(dir.length + 1)}: ${needle}`);
      }
    }
  };
  walk(dir);
  return found;
}

describe('erasure (GDPR art. 17): crypto-shredding a user', () => {
  const temp = tempDir();
  let server: TestServer;
  let tenant: Tenant;
  let keptBefore: KeptTreeHead;
  let jwks: unknown;
  const tag = randomBytes(4).toString('hex');
  const person = {
    email: `zq7-erasable-${tag}@example.com`,
    name: `zq7-erasable-name-${tag}`,
    renamed: `zq7-erasable-renamed-${tag}`,
    description: `zq7-erasable-description-${tag}`,
    password: 'a long enough password for the test',
  };
  const needles = [person.email, person.name, person.renamed, person.description];
  let userId = '';
  const users = () => `/api/v1/organizations/${tenant.organizationId}/users`;
  const erase = (id: string, token?: string) => server.api(`${users()}/${id}/erasure`, { method: 'POST', ...(token !== undefined && { token }) });

  before(async () => {
    server = await startTestServer({ dataDir: temp.path, env: { READ_MODEL_SNAPSHOT_SECONDS: '1', LEDGER_TREE_HEAD_SECONDS: '3600' } });
    tenant = await createTenant(server);
    // Made with an Idempotency-Key: the stored answer mentions the user.
    const created = await server.api(users(), {
      method: 'POST',
      headers: { 'Idempotency-Key': `erasure-${tag}` },
      json: { metadata: { name: person.name }, spec: { subject: person.email, state: 'active', groupIDs: [], password: person.password } },
    });
    assert.equal(created.status, 201, await created.clone().text());
    userId = ((await created.json()) as { metadata: { id: string } }).metadata.id;
    // A login: login records, a session, activity with the user as the actor.
    await signIn(server, { ...tenant, userId, email: person.email, password: person.password });
    const updated = await server.api(`${users()}/${userId}`, {
      method: 'PUT',
      json: { metadata: { name: person.renamed, description: person.description }, spec: { subject: person.email, state: 'active' } },
    });
    assert.equal(updated.status, 200, await updated.clone().text());
    // The snapshot file holds the user now (saved every second).
    await eventually(async () => {
      const file = join(temp.path, READ_MODEL_SNAPSHOT_FILE);
      return existsSync(file) && gunzipSync(readFileSync(file)).includes(person.renamed);
    }, 10_000);
    const { events } = server.service.stores;
    assert.ok(await server.service.ledger.builder.waitFor(await events.headPosition(), 10_000));
    await server.service.ledger.heads.sign();
    keptBefore = (await (await server.api('/api/v1/audit/tree-head')).json()) as KeptTreeHead;
    jwks = await (await fetch(`${server.baseUrl}/oauth2/v2/jwks`)).json();
  });
  after(async () => {
    await server?.close();
    temp.remove();
  });

  test('before erasure the person is in the read side, and nowhere in clear in DATA_DIR but the read-model snapshot (a rebuildable copy)', async () => {
    const read = (await (await server.api(`${users()}/${userId}`)).json()) as any;
    assert.equal(read.spec.subject, person.email);
    const [created] = await server.service.stores.events.readStream(`user-${userId}`);
    assert.equal((created!.data as any).subject, person.email, 'readers see plaintext');
    const found = filesHolding(temp.path, needles);
    assert.ok(found.length > 0 && found.every((where) => where.startsWith(READ_MODEL_SNAPSHOT_FILE)), found.join('\n'));
  });

  test('a caller without users delete gets 403; an unknown user 404', async () => {
    const reader = await serviceAccountWithRoles(server, tenant.organizationId, ['reader']);
    const refused = await erase(userId, reader.token);
    assert.equal(refused.status, 403, await refused.text());
    assert.equal((await erase('00000000-0000-4000-8000-000000000000')).status, 404);
    assert.equal((await server.api(`${users()}/${userId}`)).status, 200, 'still there');
  });

  test('erasure: deleted, [erased] in every read, nothing in any file of DATA_DIR while running, other users untouched; twice is fine', async () => {
    const first = await erase(userId);
    assert.equal(first.status, 200, await first.clone().text());
    assert.deepEqual(await first.json(), { userID: userId, organizationID: tenant.organizationId, erased: true, erasedNow: true });
    const again = await erase(userId);
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as any).erasedNow, false);
    assert.equal((await server.api(`${users()}/${userId}`)).status, 404);

    const { events } = server.service.stores;
    const stream = await events.readStream(`user-${userId}`);
    assert.deepEqual(stream.map((e) => e.type), ['user.created', 'user.updated', 'user.deleted']);
    for (const event of stream) assert.equal((event.data as any).subject, '[erased]', event.type);
    assert.equal((stream[1]!.data as any).name, '[erased]');
    const logins = await events.readStream(`userlogins-${userId}`);
    assert.ok(logins.length > 0 && logins.every((e) => (e.data as any).sourceAddress === '[erased]' && e.metadata.actor.subject === '[erased]'));
    assert.ok((await events.readStream(`erasure-${userId}`)).some((e) => e.type === 'user.erased'));
    for (const event of await events.readAll()) {
      const text = JSON.stringify({ type: event.type, streamName: event.streamName, data: event.data, metadata: event.metadata });
      for (const needle of needles) assert.ok(!text.includes(needle), `${needle} in ${text}`);
    }

    // Another user of the organization reads as before.
    const other = (await (await server.api(`${users()}/${tenant.userId}`)).json()) as any;
    assert.equal(other.spec.subject, tenant.email);
    const [otherCreated] = await events.readStream(`user-${tenant.userId}`);
    assert.equal((otherCreated!.data as any).subject, tenant.email);

    // The snapshot was rewritten, the idempotency answer forgotten: no byte of the person anywhere, WAL included.
    assert.deepEqual(filesHolding(temp.path, needles), []);
  });

  test('the ledger: the tree before the erasure is the same after it, and every proof verifies offline', async () => {
    const { events } = server.service.stores;
    assert.ok(await server.service.ledger.builder.waitFor(await events.headPosition(), 10_000));
    await server.service.ledger.heads.sign();
    const keptAfter = (await (await server.api('/api/v1/audit/tree-head')).json()) as KeptTreeHead;
    assert.ok(keptAfter.tree_size > keptBefore.tree_size);
    const proof = await server.api(`/api/v1/audit/proofs/consistency?from=${keptBefore.tree_size}&to=${keptAfter.tree_size}`);
    assert.equal(proof.status, 200, await proof.clone().text());
    await server.stop();
    // Stopped: the files as they rest (WAL, journal) hold nothing of the person either.
    assert.deepEqual(filesHolding(temp.path, needles), []);
    const report = await verifyDataDirectory({ dataDir: temp.path, jwks: jwks as any, keptHeads: [keptBefore, keptAfter] });
    assert.equal(report.firstDifference, undefined, JSON.stringify(report.firstDifference));
    assert.ok(report.ok);
  });

  test('a full rebuild (no snapshot) folds the erased events without a crash and shows no trace of the person', async () => {
    rmSync(join(temp.path, READ_MODEL_SNAPSHOT_FILE), { force: true });
    server = await startTestServer({ dataDir: temp.path, env: { LEDGER_TREE_HEAD_SECONDS: '3600' } });
    assert.equal(server.service.stores.unreadableEvents.status().count, 0);
    const list = (await (await server.api(`${users()}?pageSize=100`)).json()) as any;
    assert.ok(!JSON.stringify(list).includes(person.email));
    assert.equal((await server.api(`${users()}/${userId}`)).status, 404);
    assert.equal(((await (await server.api(`${users()}/${tenant.userId}`)).json()) as any).spec.subject, tenant.email);
    const [created] = await server.service.stores.events.readStream(`user-${userId}`);
    assert.equal((created!.data as any).name, '[erased]');
    // The subject is free again in the organization.
    const reused = await server.api(users(), { method: 'POST', json: { metadata: { name: `again-${tag}` }, spec: { subject: person.email, state: 'active', groupIDs: [] } } });
    assert.equal(reused.status, 201, await reused.text());
  });
});
