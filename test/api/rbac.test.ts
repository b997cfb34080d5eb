import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AccessControl } from '../../src/api/auth/access-control.js';
import type { Caller } from '../../src/api/auth/caller.js';
import { ForbiddenHttpError, InvalidRequestError } from '../../src/api/http/errors.js';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { created, serviceAccountWithRoles } from '../support/tenants.js';

describe('role-based access control', () => {
  let server: TestServer;
  let org: string;
  let base: string;
  let inside: string;
  let outside: string;

  before(async () => {
    server = await startTestServer();
    org = (await created(server, '/api/v1/organizations', { metadata: { name: 'rbac' }, spec: { organizationType: 'adhoc' } })).metadata.id;
    base = `/api/v1/organizations/${org}`;
    inside = (await created(server, `${base}/projects`, { metadata: { name: 'inside' }, spec: { groupIDs: [] } })).metadata.id;
    outside = (await created(server, `${base}/projects`, { metadata: { name: 'outside' }, spec: { groupIDs: [] } })).metadata.id;
  });
  after(async () => server.close());

  const as = (token: string) => (path: string, init: { method?: string; json?: unknown } = {}) => server.api(path, { ...init, token });

  test('the roles an organization may grant leave out the protected platform-administrator', async () => {
    const response = await server.api(`${base}/roles?sortBy=name`);
    assert.equal(response.status, 200);
    const roles = (await response.json()) as Array<{ metadata: { name: string } }>;
    // With the roles of the compatible APIs (docs/compat.md).
    const names = ['admin', 'administrator', 'auditor', 'department_admin', 'editor', 'ml_engineer', 'reader', 'research_manager', 'researcher', 'user', 'viewer'];
    assert.deepEqual(roles.map((r) => r.metadata.name), names);
    assert.equal(response.headers.get('x-total-count'), String(names.length));
    // The seed's full resourceReadMetadata.
    for (const role of roles as Array<{ metadata: Record<string, unknown> }>) {
      assert.equal(role.metadata.provisioningStatus, 'provisioned');
      assert.equal(role.metadata.healthStatus, 'healthy');
      assert.equal(role.metadata.id, role.metadata.name);
      assert.equal(typeof role.metadata.creationTime, 'string');
    }
  });

  test('a reader reads everything in its organization and changes nothing', async () => {
    const reader = as((await serviceAccountWithRoles(server, org, ['reader'])).token);
    assert.equal((await reader(`${base}/users`)).status, 200);
    assert.equal((await reader(`${base}/groups`)).status, 200);
    assert.equal((await reader(`${base}/projects`)).status, 200);
    assert.equal((await reader(`${base}/quotas`)).status, 200);
    assert.equal((await reader(`${base}/users`, { method: 'POST', json: { metadata: { name: 'x' }, spec: { subject: 'x@example.com', state: 'active', groupIDs: [] } } })).status, 403);
    assert.equal((await reader(`${base}/quotas`, { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 1 }] } })).status, 403);
    assert.equal((await reader(`${base}`, { method: 'DELETE' })).status, 403);
    const acl = (await (await reader(`${base}/acl`)).json()) as { organization: { endpoints: Array<{ name: string; operations: string[] }> } };
    const users = acl.organization.endpoints.find((e) => e.name === 'identity:users');
    assert.deepEqual(users?.operations, ['read']);
  });

  test('a user role applies in the projects that list its group, and nowhere else', async () => {
    const member = await serviceAccountWithRoles(server, org, ['user'], [inside]);
    const user = as(member.token);
    const projects = (await (await user(`${base}/projects`)).json()) as Array<{ metadata: { id: string } }>;
    assert.deepEqual(projects.map((p) => p.metadata.id), [inside]);
    assert.equal((await user(`${base}/projects/${inside}`)).status, 200);
    assert.equal((await user(`${base}/projects/${outside}`)).status, 403);
    const allocation = { metadata: { name: 'mine' }, spec: { kind: 'cluster', id: 'c1', allocations: [{ kind: 'servers', committed: 1, reserved: 0 }] } };
    assert.equal((await user(`${base}/projects/${inside}/allocations`, { method: 'POST', json: allocation })).status, 201);
    assert.equal((await user(`${base}/projects/${outside}/allocations`, { method: 'POST', json: allocation })).status, 403);
    assert.equal((await user(`${base}/projects/${inside}`, { method: 'DELETE' })).status, 403, 'a user may not delete the project');
    const acl = (await (await user(`${base}/acl`)).json()) as { projects: Array<{ id: string; endpoints: Array<{ name: string }> }> };
    assert.deepEqual(acl.projects.map((p) => p.id), [inside]);
    assert.ok(acl.projects[0]!.endpoints.some((e) => e.name === 'identity:allocations'));
  });

  test('an administrator manages its organization but cannot grant the protected role', async () => {
    const admin = as((await serviceAccountWithRoles(server, org, ['administrator'])).token);
    const group = await admin(`${base}/groups`, { method: 'POST', json: { metadata: { name: 'admins' }, spec: { roleIDs: ['administrator'], userIDs: [], serviceAccountIDs: [] } } });
    assert.equal(group.status, 201);
    const protectedRole = await admin(`${base}/groups`, { method: 'POST', json: { metadata: { name: 'gods' }, spec: { roleIDs: ['platform-administrator'], userIDs: [], serviceAccountIDs: [] } } });
    assert.equal(protectedRole.status, 403);
    const unknownRole = await admin(`${base}/groups`, { method: 'POST', json: { metadata: { name: 'ghosts' }, spec: { roleIDs: ['superuser'], userIDs: [], serviceAccountIDs: [] } } });
    assert.equal(unknownRole.status, 400);
    assert.equal((await admin('/api/v1/organizations', { method: 'POST', json: { metadata: { name: 'another' }, spec: { organizationType: 'adhoc' } } })).status, 403);
  });

  test('a service account token stops working when its group loses the role', async () => {
    const robot = await serviceAccountWithRoles(server, org, ['reader']);
    assert.equal((await as(robot.token)(`${base}/users`)).status, 200);
    const update = await server.api(`${base}/groups/${robot.groupId}`, {
      method: 'PUT',
      json: { metadata: { name: (await (await server.api(`${base}/groups/${robot.groupId}`)).json() as any).metadata.name }, spec: { roleIDs: [], userIDs: [], serviceAccountIDs: [robot.serviceAccountId] } },
    });
    assert.equal(update.status, 200);
    assert.equal((await as(robot.token)(`${base}/users`)).status, 403);
  });
});

describe('granting roles', () => {
  const org = 'org-1';
  const readerCaller: Caller = { subject: 'r', kind: 'service_account', platformAdministrator: false, organizationId: org, principalId: 'sa-reader' };

  async function accessWith(groups: Array<{ id: string; roleIDs: string[]; serviceAccountIDs: string[] }>) {
    const store = new MemoryReadModelStore();
    for (const g of groups) {
      await store.collection('groups').put({ _id: g.id, metadata: { id: g.id, organizationId: org }, spec: { roleIDs: g.roleIDs, userIDs: [], serviceAccountIDs: g.serviceAccountIDs } });
    }
    return new AccessControl(store);
  }

  test('nobody grants a role holding permissions they do not hold', async () => {
    const access = await accessWith([{ id: 'g', roleIDs: ['reader'], serviceAccountIDs: ['sa-reader'] }]);
    await access.assertCanGrant(readerCaller, org, ['reader']);
    await assert.rejects(access.assertCanGrant(readerCaller, org, ['user']), ForbiddenHttpError);
    await assert.rejects(access.assertCanGrant(readerCaller, org, ['administrator']), ForbiddenHttpError);
  });

  test('the protected role is refused even to platform administrators, and unknown roles are a bad request', async () => {
    const access = await accessWith([]);
    const platform: Caller = { subject: 'root', kind: 'platform_administrator', platformAdministrator: true };
    await access.assertCanGrant(platform, org, ['administrator']);
    await assert.rejects(access.assertCanGrant(platform, org, ['platform-administrator']), ForbiddenHttpError);
    await assert.rejects(access.assertCanGrant(platform, org, ['nope']), InvalidRequestError);
  });

  test('membership of another organization grants nothing here', async () => {
    const access = await accessWith([{ id: 'g', roleIDs: ['administrator'], serviceAccountIDs: ['sa-reader'] }]);
    const foreigner: Caller = { ...readerCaller, organizationId: 'org-2' };
    assert.equal(await access.allows(foreigner, { organizationId: org }, 'identity:users', 'read'), false);
    assert.equal(await access.allows(readerCaller, { organizationId: org }, 'identity:users', 'read'), true);
  });
});
