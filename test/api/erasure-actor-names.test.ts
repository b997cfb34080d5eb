import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { READ_MODEL_SNAPSHOT_FILE } from '../../src/infra/memory/read-model-snapshot.js';
import { createTenant, signIn, type Tenant } from '../support/oidc.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

/**
 * An erased administrator's email as createdBy / modifiedBy of the resources
 * they made (docs/crypto-shredding.md): the read models keep the actor's id
 * beside the name, and erasure blanks the name to `[erased]` in the live read
 * models and in the snapshot file rewritten from them, without a rebuild.
 */
describe('erasure of an administrator who made resources: no createdBy/modifiedBy email left', () => {
  const temp = tempDir();
  let server: TestServer;
  let tenant: Tenant;
  const tag = randomBytes(4).toString('hex');
  const admin = { email: `zq8-admin-${tag}@example.com`, password: 'a long enough password for the admin' };
  let adminId = '';
  let token = '';
  const org = () => `/api/v1/organizations/${tenant.organizationId}`;
  /** What the admin made: [collection path, id]. */
  const made: [string, string][] = [];
  let adminsGroup = '';

  const snapshotText = () => {
    const file = join(temp.path, READ_MODEL_SNAPSHOT_FILE);
    return existsSync(file) ? gunzipSync(readFileSync(file)).toString('utf8') : '';
  };
  /** Every read of the organization's resources: each list, each thing the admin made, the organization and its audit log. */
  const everyResponse = async (): Promise<{ path: string; status: number; text: string }[]> => {
    const paths = [
      '/api/v1/organizations',
      org(),
      ...['groups', 'projects', 'applications', 'serviceaccounts', 'users'].map((kind) => `${org()}/${kind}`),
      ...made.map(([kind, id]) => `${org()}/${kind}/${id}`),
      `${org()}/groups/${adminsGroup}`,
      `${org()}/events`,
    ];
    return Promise.all(
      paths.map(async (path) => {
        const response = await server.api(path);
        return { path, status: response.status, text: await response.text() };
      }),
    );
  };

  before(async () => {
    server = await startTestServer({ dataDir: temp.path, env: { READ_MODEL_SNAPSHOT_SECONDS: '1', LEDGER_TREE_HEAD_SECONDS: '3600' } });
    tenant = await createTenant(server);
    const post = async (path: string, json: unknown, as?: string) => {
      const response = await server.api(path, { method: 'POST', json, ...(as !== undefined && { token: as }) });
      assert.ok(response.status === 201 || response.status === 202, `${path}: ${response.status} ${await response.clone().text()}`);
      return (await response.json()) as any;
    };
    adminsGroup = (await post(`${org()}/groups`, { metadata: { name: `admins-${tag}` }, spec: { roleIDs: ['administrator'] } })).metadata.id;
    adminId = (
      await post(`${org()}/users`, {
        metadata: { name: `admin-${tag}` },
        spec: { subject: admin.email, state: 'active', groupIDs: [adminsGroup], password: admin.password },
      })
    ).metadata.id;
    token = (await signIn(server, { ...tenant, userId: adminId, email: admin.email, password: admin.password })).access_token;
    // The administrator makes one resource of each kind, and changes one made by someone else.
    made.push(['groups', (await post(`${org()}/groups`, { metadata: { name: `made-${tag}` }, spec: { roleIDs: ['reader'] } }, token)).metadata.id]);
    made.push(['projects', (await post(`${org()}/projects`, { metadata: { name: `project-${tag}` }, spec: { groupIDs: [] } }, token)).metadata.id]);
    made.push([
      'applications',
      (await post(`${org()}/applications`, { metadata: { name: `app-${tag}` }, spec: { redirectURIs: ['https://app.example.com/cb'], grantTypes: ['authorization_code'], public: false, groupIDs: [] } }, token)).metadata.id,
    ]);
    made.push(['serviceaccounts', (await post(`${org()}/serviceaccounts`, { metadata: { name: `robot-${tag}` }, spec: { groupIDs: [] } }, token)).metadata.id]);
    made.push(['users', (await post(`${org()}/users`, { metadata: { name: `member-${tag}` }, spec: { subject: `member-${tag}@example.com`, state: 'active', groupIDs: [] } }, token)).metadata.id]);
    const renamed = await server.api(`${org()}/groups/${adminsGroup}`, {
      method: 'PUT',
      token,
      json: { metadata: { name: `admins-${tag}`, description: 'changed by the admin' }, spec: { roleIDs: ['administrator'] } },
    });
    assert.equal(renamed.status, 200, await renamed.clone().text());
  });
  after(async () => {
    await server?.close();
    temp.remove();
  });

  test('before erasure the admin is named as createdBy / modifiedBy in the responses and in the snapshot file', async () => {
    for (const [kind, id] of made) {
      const read = (await (await server.api(`${org()}/${kind}/${id}`)).json()) as any;
      assert.equal(read.metadata.createdBy, admin.email, kind);
      assert.equal(read.metadata.createdById, undefined, `${kind}: the id is internal, never in a response`);
    }
    const group = (await (await server.api(`${org()}/groups/${adminsGroup}`)).json()) as any;
    assert.equal(group.metadata.modifiedBy, admin.email);
    assert.equal(group.metadata.createdBy, 'platform-administrator');
    await eventually(async () => snapshotText().includes(`"createdBy":"${admin.email}"`), 10_000);
  });

  test('after erasure no response and no snapshot holds the email; others keep their names', async () => {
    const erased = await server.api(`${org()}/users/${adminId}/erasure`, { method: 'POST' });
    assert.equal(erased.status, 200, await erased.clone().text());
    for (const { path, status, text } of await everyResponse()) {
      assert.equal(status, 200, `${path}: ${text}`);
      assert.ok(!text.toLowerCase().includes(admin.email.toLowerCase()), `${path} still names the admin: ${text.slice(0, 500)}`);
    }
    for (const [kind, id] of made) {
      const read = (await (await server.api(`${org()}/${kind}/${id}`)).json()) as any;
      assert.equal(read.metadata.createdBy, '[erased]', kind);
    }
    const group = (await (await server.api(`${org()}/groups/${adminsGroup}`)).json()) as any;
    assert.equal(group.metadata.modifiedBy, '[erased]');
    assert.equal(group.metadata.createdBy, 'platform-administrator', 'another actor keeps its name');
    // The snapshot was rewritten by the erasure, and stays clean at the next periodic save.
    assert.ok(snapshotText().length > 0 && !snapshotText().includes(admin.email), 'snapshot rewritten without the admin');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(!snapshotText().includes(admin.email));
    assert.ok(snapshotText().includes('"createdBy":"[erased]"'));
  });

  test('after a restart from the snapshot, and after a rebuild, the names stay erased', async () => {
    await server.stop();
    server = await startTestServer({ dataDir: temp.path, env: { LEDGER_TREE_HEAD_SECONDS: '3600' } });
    for (const { path, status, text } of await everyResponse()) {
      assert.equal(status, 200, `${path}: ${text}`);
      assert.ok(!text.toLowerCase().includes(admin.email.toLowerCase()), `${path} names the admin after restart`);
    }
    const [kind, id] = made[0]!;
    assert.equal(((await (await server.api(`${org()}/${kind}/${id}`)).json()) as any).metadata.createdBy, '[erased]');
  });
});
