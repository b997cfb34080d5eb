import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import jsonpatch from 'fast-json-patch';
import { startTestServer, type TestServer } from '../support/server.js';
import { created, populatedOrganization, serviceAccountWithRoles } from '../support/tenants.js';

interface Version {
  revision: number;
  time: string;
  actor: { kind: string; id: string };
  type: string;
  position: string;
  changes: jsonpatch.Operation[];
}

async function ok<T = any>(response: Response, status = 200): Promise<T> {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  return (await response.json()) as T;
}

async function expectError(response: Response, status: number, description?: RegExp) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  const body = (await response.json()) as { error: string; error_description: string };
  assert.equal(typeof body.error_description, 'string');
  if (description) assert.match(body.error_description, description);
}

describe('resource history with diffs', () => {
  let server: TestServer;
  let org: Awaited<ReturnType<typeof populatedOrganization>>;
  let base: string;

  before(async () => {
    server = await startTestServer();
    org = await populatedOrganization(server, 'history');
    base = `/api/v1/organizations/${org.organizationId}`;
  });
  after(async () => server?.close());

  /** Every version of a resource, page by page. */
  async function history(path: string, limit?: number, token?: string): Promise<Version[]> {
    const versions: Version[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ ...(limit && { limit: String(limit) }), ...(cursor && { cursor }) });
      const page: { items: Version[]; next: string | null } = await ok(await server.api(`${path}/history?${query}`, token ? { token } : {}));
      versions.push(...page.items);
      cursor = page.next;
    } while (cursor);
    return versions;
  }

  /** Applying every patch in turn to nothing gives what the GET answers now. */
  async function assertReplays(path: string, versions: Version[]) {
    let document: unknown = undefined;
    for (const version of versions) {
      document = jsonpatch.applyPatch(document === undefined ? {} : jsonpatch.deepClone(document), version.changes, true, false).newDocument;
    }
    assert.deepEqual(document, await ok(await server.api(path)));
    assert.deepEqual(
      versions.map((v) => v.revision),
      versions.map((_, i) => i + 1),
    );
    const positions = versions.map((v) => BigInt(v.position));
    assert.deepEqual([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), positions, 'oldest first');
  }

  const put = async (path: string, json: unknown) => {
    const response = await server.api(path, { method: 'PUT', json });
    assert.ok([200, 202, 204].includes(response.status), `PUT ${path}: ${response.status} ${await response.text()}`);
  };

  /** Each kind, after one update of its description (or quantity): the update is the last version and changes just that. */
  const kinds: Array<[kind: string, path: () => string, update: (path: string, current: any) => Promise<void>, changed: string]> = [
    ['organization', () => base, (p, c) => put(p, { metadata: { name: c.metadata.name, description: 'changed' }, spec: { organizationType: c.spec.organizationType } }), '/metadata/description'],
    ['user', () => `${base}/users/${org.ids.userID}`, (p, c) => put(p, { metadata: { name: c.metadata.name, description: 'changed' }, spec: { subject: c.spec.subject, state: c.spec.state } }), '/metadata/description'],
    ['project', () => `${base}/projects/${org.ids.projectID}`, (p, c) => put(p, { metadata: { name: c.metadata.name, description: 'changed' }, spec: { groupIDs: c.spec.groupIDs } }), '/metadata/description'],
    ['service account', () => `${base}/serviceaccounts/${org.ids.serviceAccountID}`, (p, c) => put(p, { metadata: { name: c.metadata.name, description: 'changed' }, spec: c.spec }), '/metadata/description'],
    [
      'application',
      () => `${base}/applications/${org.ids.applicationID}`,
      (p, c) => put(p, { metadata: { name: c.metadata.name, description: 'changed' }, spec: { redirectURIs: c.spec.redirectURIs, grantTypes: c.spec.grantTypes, public: c.spec.public, groupIDs: c.spec.groupIDs } }),
      '/metadata/description',
    ],
    ['identity provider', () => `${base}/oauth2providers/${org.ids.providerID}`, (p, c) => put(p, { metadata: { name: c.metadata.name, description: 'changed' }, spec: { type: c.spec.type, issuer: c.spec.issuer, clientID: 'another-client' } }), '/spec/clientID'],
    ['quotas', () => `${base}/quotas`, (p, c) => put(p, { quotas: [{ kind: c.quotas[0].kind, quantity: c.quotas[0].quantity + 7 }] }), '/quotas/0/quantity'],
    [
      'allocation',
      () => `${base}/projects/${org.ids.projectID}/allocations/${org.ids.allocationID}`,
      (p, c) => put(p, { metadata: { name: c.metadata.name, description: 'changed' }, spec: { kind: c.spec.kind, id: c.spec.id, allocations: [{ kind: 'servers', committed: 2, reserved: 0 }] } }),
      '/spec/allocations/0/committed',
    ],
    ['group', () => `${base}/groups/${org.ids.groupid}`, (p, c) => put(p, { metadata: { name: c.metadata.name, description: 'changed' }, spec: c.spec }), '/metadata/description'],
  ];
  for (const [kind, path, update, changed] of kinds) {
    test(`${kind}: created, then updated, each version a patch that replays to the resource as it is now`, async () => {
      const before = await history(path());
      assert.ok(before.length >= 1);
      assert.deepEqual(before[0]!.changes.map((op) => [op.op, op.path]), [['add', '']], 'the first version adds the whole resource');
      await update(path(), await ok(await server.api(path())));
      const versions = await history(path());
      assert.ok(versions.length > before.length, `${kind}: the update is a new version`);
      const last = versions[versions.length - 1]!;
      assert.ok(last.changes.some((op) => op.path === changed && (op.op === 'replace' || op.op === 'add')), `${kind}: ${JSON.stringify(last.changes)}`);
      assert.equal(last.actor.kind, 'platform_administrator');
      assert.ok(!Number.isNaN(Date.parse(last.time)));
      await assertReplays(path(), versions);
    });
  }

  test("a group's roles and members: added and removed as such, and the member's own history shows it", async () => {
    const group = `${base}/groups/${org.ids.groupid}`;
    const current = await ok(await server.api(group));
    const start = (await history(group)).length;
    const newcomer = await created(server, `${base}/users`, { metadata: { name: 'newcomer' }, spec: { subject: `newcomer-${org.marker}@example.com`, state: 'active', groupIDs: [] } });
    await put(group, { metadata: { name: current.metadata.name }, spec: { ...current.spec, roleIDs: [...current.spec.roleIDs, 'user'], userIDs: [newcomer.metadata.id] } });
    const versions = await history(group);
    const changes = versions.slice(start).flatMap((v) => v.changes);
    const roleIndex = current.spec.roleIDs.length;
    assert.deepEqual(changes.find((op) => op.path.startsWith('/spec/roleIDs')), { op: 'add', path: `/spec/roleIDs/${roleIndex}`, value: 'user' });
    assert.ok(changes.some((op) => op.op === 'remove' && op.path === '/spec/userIDs/0'), JSON.stringify(changes));
    assert.ok(changes.some((op) => op.op === 'add' && op.path.startsWith('/spec/userIDs/') && (op as any).value === newcomer.metadata.id), JSON.stringify(changes));
    await assertReplays(group, versions);

    // The user who left the group: its groupIDs lost the group, in a version of its own history.
    const userPath = `${base}/users/${org.ids.userID}`;
    const userVersions = await history(userPath);
    const left = userVersions.find((v) => v.changes.some((op) => op.op === 'remove' && op.path.startsWith('/spec/groupIDs/')));
    assert.ok(left, JSON.stringify(userVersions.map((v) => [v.type, v.changes])));
    assert.match(left.type, /^group\./);
    // Group events that did not change this user (the newcomer joining, the role added) are not versions of it.
    assert.ok(userVersions.filter((v) => v.type.startsWith('group.')).every((v) => v.changes.length > 0), JSON.stringify(userVersions.map((v) => [v.type, v.changes])));
    await assertReplays(userPath, userVersions);
  });

  test('pages: a cursor walks the versions, one at a time, as one page does', async () => {
    const path = `${base}/groups/${org.ids.groupid}`;
    const all = await history(path);
    assert.ok(all.length >= 3);
    assert.deepEqual(await history(path, 1), all);
    const first = await ok(await server.api(`${path}/history?limit=2`));
    assert.equal(first.items.length, 2);
    assert.equal(typeof first.next, 'string');
  });

  test('a deleted resource keeps its history, ending with the removal of the whole document', async () => {
    const group = await created(server, `${base}/groups`, { metadata: { name: `doomed-${org.marker}` }, spec: { roleIDs: ['reader'], userIDs: [], serviceAccountIDs: [] } });
    const path = `${base}/groups/${group.metadata.id}`;
    const response = await server.api(path, { method: 'DELETE' });
    assert.equal(response.status, 200, await response.text());
    const versions = await history(path);
    assert.deepEqual(versions[0]!.changes.map((op) => op.op), ['add']);
    assert.deepEqual(versions[versions.length - 1]!.changes, [{ op: 'remove', path: '' }]);
    assert.equal(versions[versions.length - 1]!.type, 'group.deleted');
  });

  test('a resource that never existed, or exists in another organization: 404', async () => {
    await expectError(await server.api(`${base}/groups/00000000-0000-4000-8000-000000000000/history`), 404, /no history/);
    const other = await populatedOrganization(server, 'history-other');
    await expectError(await server.api(`${base}/groups/${other.ids.groupid}/history`), 404);
    await expectError(await server.api(`${base}/users/${other.ids.userID}/history`), 404);
  });

  test('bad paging parameters: 400', async () => {
    const path = `${base}/groups/${org.ids.groupid}/history`;
    await expectError(await server.api(`${path}?limit=0`), 400);
    await expectError(await server.api(`${path}?limit=abc`), 400);
    await expectError(await server.api(`${path}?cursor=not-a-cursor`), 400, /cursor/);
    await expectError(await server.api(`${path}?unknown=1`), 400);
  });

  test('a reader (no identity:audit) and a caller of another organization: 403; an administrator: 200', async () => {
    const reader = await serviceAccountWithRoles(server, org.organizationId, ['reader']);
    const path = `${base}/groups/${org.ids.groupid}/history`;
    await expectError(await server.api(path, { token: reader.token }), 403, /identity:audit/);
    await expectError(await server.api(`${base}/users/${org.ids.userID}/history`, { token: reader.token }), 403);
    const stranger = await populatedOrganization(server, 'history-stranger');
    await expectError(await server.api(path, { token: stranger.admin.token }), 403);
    // The organization's own administrator reads it.
    await ok(await server.api(path, { token: org.admin.token }));
    // Without a token: 401.
    assert.equal((await server.api(path, { token: null })).status, 401);
  });
});
