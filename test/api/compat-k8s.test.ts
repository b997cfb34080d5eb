import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorizationUrl, createTenant, pkcePair, submitLogin, type Tenant } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { serviceAccountWithRoles } from '../support/tenants.js';

/** The deprecated /v1/k8s/users and /v1/k8s/groups of seeds 000 and 003 (docs/compat.md). */
describe('deprecated k8s users and groups (seeds 000 and 003)', () => {
  let server: TestServer;
  let tenant: Tenant;
  let admin: { token: string };
  let tenantId: number;

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
    admin = await serviceAccountWithRoles(server, tenant.organizationId, ['admin']);
    tenantId = ((await (await server.api(`/api/v1/organizations/${tenant.organizationId}`)).json()) as { metadata: { tenantId: number } }).metadata.tenantId;
  });
  after(async () => server.close());

  const as = (token: string) => (path: string, init: { method?: string; json?: unknown; headers?: Record<string, string> } = {}) => server.api(path, { ...init, token });
  const call = (path: string, init: { method?: string; json?: unknown } = {}) => as(admin.token)(path, init);
  const json = async (response: Response, status = 200) => {
    const text = await response.text();
    assert.equal(response.status, status, text);
    return text === '' ? undefined : (JSON.parse(text) as any);
  };

  test('every answer says it is deprecated (RFC 9745) and links to its successor; the OpenAPI document marks the paths', async () => {
    const users = await call('/v1/k8s/users');
    assert.equal(users.status, 200);
    assert.match(users.headers.get('deprecation') ?? '', /^@\d+$/);
    assert.equal(users.headers.get('link'), '</api/v1/users>; rel="successor-version"');
    const groups = await call('/v1/k8s/groups');
    assert.equal(groups.headers.get('link'), `</api/v1/organizations/${tenant.organizationId}/groups>; rel="successor-version"`);
    const bad = await call('/v1/k8s/users/nobody');
    assert.equal(bad.status, 404);
    assert.match(bad.headers.get('deprecation') ?? '', /^@\d+$/, 'errors too');
    const openapi = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as { paths: Record<string, Record<string, { deprecated?: boolean }>> };
    for (const path of ['/v1/k8s/users', '/v1/k8s/users/{userId}', '/v1/k8s/groups', '/v1/k8s/groups/{groupName}']) {
      for (const operation of Object.values(openapi.paths[path]!)) assert.equal(operation.deprecated, true, path);
    }
    assert.equal(openapi.paths['/api/v1/users']!.get!.deprecated, undefined);
  });

  test('users: create with roles and a password, get, list with filters, update roles, delete; roles are real grants', async () => {
    const created = await json(
      await call('/v1/k8s/users', {
        method: 'POST',
        json: { email: 'k8s.user@example.com', password: 'a password for k8s', needToChangePassword: false, roles: ['viewer', 'editor'], entityType: 'regular-user', tenantId, permitAllClusters: true, permittedClusters: [] },
      }),
    );
    assert.equal(created.email, 'k8s.user@example.com');
    assert.equal(created.entityType, 'regular-user');
    assert.equal(created.tenantId, tenantId);
    assert.deepEqual(created.roles, ['editor', 'viewer']);
    assert.equal(created.permitAllClusters, true);
    assert.deepEqual(created.permittedClusters, []);
    assert.equal(created.needToChangePassword, false);
    assert.equal(created.tempPassword, undefined, 'a password was given');
    assert.ok(!JSON.stringify(created).includes('a password for k8s'));
    const id = created.userId as string;

    // The same user in the other APIs, in the role groups.
    const seed004 = await json(await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${id}`));
    assert.equal(seed004.spec.groupIDs.length, 2);
    const roleGroups = await json(await server.api(`/api/v1/organizations/${tenant.organizationId}/groups?filterBy=name=@runai-role-`));
    assert.deepEqual(roleGroups.map((g: any) => [g.metadata.name, g.spec.roleIDs]).sort(), [['runai-role-editor', ['editor']], ['runai-role-viewer', ['viewer']]]);
    assert.deepEqual((await json(await call(`/api/v1/users/${id}`))).roles, ['editor', 'viewer']);
    // The password works, and directly (no change asked for).
    const url = authorizationUrl(server, { response_type: 'code', client_id: tenant.confidential.clientId, redirect_uri: tenant.redirectUri, scope: 'openid', state: 's', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
    assert.equal((await submitLogin(url, 'k8s.user@example.com', 'a password for k8s')).response.status, 302);

    const read = await json(await call(`/v1/k8s/users/${id}`));
    const { lastLogin: _lastLogin, ...readBack } = read;
    assert.deepEqual(readBack, created);

    const list = async (query: string) => ((await json(await call(`/v1/k8s/users?${query}`))) as Array<{ email: string }>).map((u) => u.email).sort();
    assert.deepEqual(await list(''), [tenant.email, 'k8s.user@example.com'].sort());
    assert.deepEqual(await list('roles=viewer'), ['k8s.user@example.com']);
    assert.deepEqual(await list('roles=admin&roles=editor'), ['k8s.user@example.com']);
    assert.deepEqual(await list('roles=admin'), []);
    assert.deepEqual(await list('onlyCreatedByMe=true'), ['k8s.user@example.com'], 'the tenant user was made by the platform administrator');
    assert.deepEqual(await list('usersType=sso-user'), []);

    // Without a password: a temporary one, once, to change at the first login.
    const noPassword = await call('/v1/k8s/users', { method: 'POST', json: { email: 'k8s.temp@example.com' } });
    assert.match(noPassword.headers.get('cache-control') ?? '', /no-store/);
    const temp = await json(noPassword);
    assert.equal(typeof temp.tempPassword, 'string');
    assert.equal(temp.needToChangePassword, true);
    assert.match((await submitLogin(url, 'k8s.temp@example.com', temp.tempPassword)).html ?? '', /name="new_password"/);
    assert.equal((await json(await call(`/v1/k8s/users/${temp.userId}`))).tempPassword, undefined);

    const updated = await json(await call(`/v1/k8s/users/${id}`, { method: 'PUT', json: { email: 'k8s.renamed@example.com', roles: ['researcher'] } }));
    assert.deepEqual(updated.roles, ['researcher']);
    assert.equal(updated.email, 'k8s.renamed@example.com');
    assert.equal((await json(await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${id}`))).spec.groupIDs.length, 1);
    // Roles omitted: they stay.
    assert.deepEqual((await json(await call(`/v1/k8s/users/${id}`, { method: 'PUT', json: { email: 'k8s.renamed@example.com' } }))).roles, ['researcher']);

    assert.equal((await call(`/v1/k8s/users/${id}`, { method: 'DELETE' })).status, 200);
    assert.equal((await call(`/v1/k8s/users/${id}`)).status, 404);
    assert.equal((await call(`/api/v1/users/${id}`)).status, 404);
  });

  test('users: bad input is a 4xx naming the problem', async () => {
    await json(await call('/v1/k8s/users', { method: 'POST', json: { email: 'dup@example.com', password: 'long enough password' } }));
    assert.equal((await call('/v1/k8s/users', { method: 'POST', json: { email: 'DUP@example.com' } })).status, 409);
    const cases: Array<[unknown, number, string]> = [
      [{}, 400, 'email'],
      [{ email: 'nope' }, 400, 'email'],
      [{ email: 'x1@example.com', roles: ['superuser'] }, 400, 'roles'],
      [{ email: 'x2@example.com', password: 'secret!123' }, 400, '12 characters'],
      [{ email: 'x3@example.com', permitAllClusters: false }, 400, 'cluster'],
      [{ email: 'x4@example.com', permittedClusters: ['71f69d83-ba66-4822-adf5-55ce55efd210'] }, 400, 'cluster'],
      [{ email: 'x5@example.com', entityType: 'sso-user' }, 400, 'entityType'],
      [{ email: 'x6@example.com', tenantId: tenantId + 1 }, 403, 'tenantId'],
      [{ email: 'x7@example.com', unknown: true }, 400, 'unknown'],
    ];
    for (const [body, status, named] of cases) {
      const response = await call('/v1/k8s/users', { method: 'POST', json: body });
      const text = await response.text();
      assert.equal(response.status, status, `${JSON.stringify(body)}: ${text}`);
      assert.ok(text.includes(named), `${JSON.stringify(body)} names ${named}: ${text}`);
    }
    assert.equal((await call('/v1/k8s/users?roles=superuser')).status, 400);
    assert.equal((await call('/v1/k8s/users?onlyCreatedByMe=maybe')).status, 400);
    const list = await json(await call('/v1/k8s/users'));
    assert.ok(!list.some((u: any) => /^x\d@/.test(u.email)), 'nothing was made by a rejected request');
    const plain = await server.api('/v1/k8s/users', { method: 'POST', token: admin.token, headers: { 'content-type': 'text/plain' }, body: 'email=x@example.com' });
    assert.equal(plain.status, 415);
  });

  test('groups: create bound to roles, get by name, list with filters, update roles and name, delete; members hold its roles', async () => {
    const group = await json(await call('/v1/k8s/groups', { method: 'POST', json: { name: 'group1', roles: ['admin'], entityType: 'group', tenantId } }));
    assert.deepEqual(
      { name: group.name, entityType: group.entityType, tenantId: group.tenantId, roles: group.roles, permitAllClusters: group.permitAllClusters, permittedClusters: group.permittedClusters },
      { name: 'group1', entityType: 'group', tenantId, roles: ['admin'], permitAllClusters: true, permittedClusters: [] },
    );
    assert.equal((await call('/v1/k8s/groups', { method: 'POST', json: { name: 'group1', roles: [] } })).status, 409);
    assert.equal((await call('/v1/k8s/groups', { method: 'POST', json: { name: 'Not a name!', roles: [] } })).status, 400);
    assert.equal((await call('/v1/k8s/groups', { method: 'POST', json: { name: 'g2', roles: ['root'] } })).status, 400);
    assert.equal((await call('/v1/k8s/groups', { method: 'POST', json: { name: 'g3', entityType: 'app' } })).status, 400);

    assert.deepEqual(await json(await call('/v1/k8s/groups/group1')), group);
    assert.deepEqual(await json(await call(`/v1/k8s/groups/${group.id}`)), group, 'by id too');
    const seed004 = await json(await server.api(`/api/v1/organizations/${tenant.organizationId}/groups/${group.id}`));
    assert.deepEqual(seed004.spec.roleIDs, ['admin']);

    // A member of the group acts with its role: a service account put in it through the seed 004 API.
    const robot = await serviceAccountWithRoles(server, tenant.organizationId, []);
    await json(await server.api(`/api/v1/organizations/${tenant.organizationId}/groups/${group.id}`, { method: 'PUT', json: { metadata: { name: 'group1' }, spec: { roleIDs: ['admin'], userIDs: [], serviceAccountIDs: [robot.serviceAccountId] } } }));
    assert.equal((await as(robot.token)('/api/v1/users', { method: 'POST', json: { email: 'by.robot@example.com' } })).status, 201);

    const names = async (query: string) => ((await json(await call(`/v1/k8s/groups?${query}`))) as Array<{ name: string }>).map((g) => g.name);
    assert.ok((await names('')).includes('group1'));
    const admins = (await json(await call('/v1/k8s/groups?roles=admin'))) as Array<{ name: string; roles: string[] }>;
    assert.ok(admins.some((g) => g.name === 'group1'));
    assert.ok(admins.every((g) => g.roles.includes('admin')));
    assert.ok(!(await names('roles=viewer')).includes('group1'));
    // The role group the first test's user create made is this caller's; the viewer groups of others are not.
    assert.deepEqual(await names('roles=viewer&onlyCreatedByMe=true'), ['runai-role-viewer']);

    const renamed = await json(await call('/v1/k8s/groups/group1', { method: 'PUT', json: { name: 'group-one', roles: ['viewer'] } }));
    assert.deepEqual([renamed.name, renamed.roles, renamed.id], ['group-one', ['viewer'], group.id]);
    // Its members stay; they now hold viewer only.
    assert.deepEqual((await json(await server.api(`/api/v1/organizations/${tenant.organizationId}/groups/${group.id}`))).spec.serviceAccountIDs, [robot.serviceAccountId]);
    assert.equal((await as(robot.token)('/api/v1/users', { method: 'POST', json: { email: 'by.robot2@example.com' } })).status, 403);
    assert.equal((await call('/v1/k8s/groups/group1')).status, 404);

    assert.equal((await call('/v1/k8s/groups/group-one', { method: 'DELETE' })).status, 200);
    assert.equal((await call('/v1/k8s/groups/group-one')).status, 404);
    assert.equal((await server.api(`/api/v1/organizations/${tenant.organizationId}/groups/${group.id}`)).status, 404);
  });

  test('roles are checked: a viewer reads, may not write, and nobody grants a role they do not hold', async () => {
    const viewer = await serviceAccountWithRoles(server, tenant.organizationId, ['viewer']);
    assert.equal((await as(viewer.token)('/v1/k8s/users')).status, 200);
    assert.equal((await as(viewer.token)('/v1/k8s/groups')).status, 200);
    assert.equal((await as(viewer.token)('/v1/k8s/users', { method: 'POST', json: { email: 'v@example.com' } })).status, 403);
    assert.equal((await as(viewer.token)('/v1/k8s/groups', { method: 'POST', json: { name: 'v-group' } })).status, 403);
    const departmentAdmin = await serviceAccountWithRoles(server, tenant.organizationId, ['department_admin']);
    const escalate = await as(departmentAdmin.token)('/v1/k8s/users', { method: 'POST', json: { email: 'escalated@example.com', roles: ['admin'] } });
    assert.equal(escalate.status, 403, 'department_admin holds less than admin');
    assert.equal((await as(departmentAdmin.token)('/v1/k8s/users', { method: 'POST', json: { email: 'researcher@example.com', roles: ['researcher'] } })).status, 200);
  });

  test("another tenant's users and groups are not found; their tenantId is refused; the platform administrator names the organization", async () => {
    const other = await createTenant(server);
    const otherAdmin = await serviceAccountWithRoles(server, other.organizationId, ['admin']);
    const theirGroup = await json(await server.api(`/v1/k8s/groups`, { method: 'POST', json: { name: 'theirs', roles: ['viewer'] }, headers: { 'X-Organization-ID': other.organizationId } }));
    for (const [method, path] of [
      ['GET', `/v1/k8s/users/${other.userId}`],
      ['PUT', `/v1/k8s/users/${other.userId}`],
      ['DELETE', `/v1/k8s/users/${other.userId}`],
      ['GET', `/v1/k8s/groups/${theirGroup.id}`],
      ['GET', '/v1/k8s/groups/theirs'],
      ['PUT', '/v1/k8s/groups/theirs'],
      ['DELETE', '/v1/k8s/groups/theirs'],
    ] as const) {
      const body = method === 'PUT' ? (path.includes('users') ? { email: 'stolen@example.com' } : { name: 'stolen' }) : undefined;
      const response = await call(path, { method, ...(body && { json: body }) });
      assert.equal(response.status, 404, `${method} ${path}`);
    }
    const listed = JSON.stringify(await json(await call('/v1/k8s/groups')));
    assert.ok(!listed.includes('theirs') && !listed.includes(theirGroup.id));
    assert.equal((await call('/v1/k8s/groups', { method: 'POST', json: { name: 'x', tenantId: theirGroup.tenantId } })).status, 403);
    assert.equal((await as(admin.token)('/v1/k8s/users', { headers: { 'X-Organization-ID': other.organizationId } })).status, 403);
    assert.equal((await server.api('/v1/k8s/users')).status, 400, 'the platform administrator must name one');
    assert.deepEqual(((await json(await server.api('/v1/k8s/groups/theirs', { headers: { 'X-Organization-ID': String(theirGroup.tenantId) } }))) as { id: string }).id, theirGroup.id);
    assert.equal((await as(otherAdmin.token)('/v1/k8s/groups/theirs')).status, 200, 'untouched');
  });
});
