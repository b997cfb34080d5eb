import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { populatedOrganization } from '../support/tenants.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Tenant isolation, proven by walking every endpoint of the OpenAPI document
 * (so a new endpoint is walked without anyone remembering to add it) with the
 * administrator credential of one organization against the other's resources.
 */
type Organization = Awaited<ReturnType<typeof populatedOrganization>>;

interface Operation {
  method: string;
  path: string;
  /** It acts in the caller's organization, which only a platform administrator may name (X-Organization-ID). */
  callerOrganization: boolean;
}

const WRITE_METHODS = new Set(['post', 'put', 'patch', 'delete']);

/**
 * A valid body for each kind of write, so that a missing permission check
 * would show as a success rather than hide behind a validation error.
 */
function validBody(method: string, path: string): unknown {
  // The compatible APIs (docs/compat.md), which act in the caller's organization.
  if (path.startsWith('/v1/k8s/groups')) return { name: 'walk-intruder', roles: ['viewer'] };
  if (path === '/v1/k8s/users' || path === '/v1/k8s/users/{userId}' || path === '/api/v1/users') return { email: 'intruder@example.com' };
  if (path === '/api/v1/apps' || path.startsWith('/v1/k8s/apps')) return path.endsWith('/secret') ? undefined : { name: 'walk-intruder' };
  if (path === '/api/v1/apps/{appId}' && method === 'patch') return { enabled: false };
  if (path === '/auth/v1/users') return { metadata: { name: 'intruder@example.com' }, spec: { password: 'a walked password' } };
  if (path === '/auth/v1/users/{name}') return { spec: { username: 'walked', is_admin: true } };
  if (path === '/api/v2/accounts') return { email: 'intruder@example.com', generate_api_key: true };
  if (path === '/api/v2/accounts/{id}') return { username: 'walked', is_admin: true };
  if (path === '/api/v2/accounts/{id}/password') return { new_password: 'a walked password' };
  if (path === '/api/v2/accounts/{id}/api-key') return undefined;
  if (path === '/api/v2/accounts/search') return { filter_expression: "email CONTAINS '@'" };
  const family = path.split('/').filter((part) => part && !part.startsWith('{')).at(-1);
  const metadata = { name: 'walk-intruder' };
  if (method === 'patch') return { metadata: { description: 'walked' } };
  switch (family) {
    case 'organizations':
      return { metadata, spec: { organizationType: 'adhoc' } };
    case 'groups':
      return { metadata, spec: { roleIDs: ['reader'], userIDs: [], serviceAccountIDs: [] } };
    case 'users':
      return { metadata, spec: { subject: 'intruder@example.com', state: 'active', groupIDs: [] } };
    case 'projects':
      return { metadata, spec: { groupIDs: [] } };
    case 'allocations':
      return { metadata, spec: { kind: 'cluster', id: 'walk', allocations: [{ kind: 'servers', committed: 1, reserved: 0 }] } };
    case 'serviceaccounts':
      return { metadata, spec: {} };
    case 'oauth2providers':
      return { metadata, spec: { type: 'google', issuer: 'https://accounts.google.com', clientID: 'walk' } };
    case 'applications':
      return { metadata, spec: { redirectURIs: ['https://walk.example.com/cb'], grantTypes: ['authorization_code'], public: true, groupIDs: [] } };
    case 'quotas':
      return { quotas: [{ kind: 'servers', quantity: 1000 }] };
    case 'password':
      return path.includes('/me/') ? { currentPassword: 'x'.repeat(12), newPassword: 'y'.repeat(12) } : undefined;
    default:
      return undefined; // rotate, secret: no body
  }
}

describe('tenant isolation', () => {
  let server: TestServer;
  let mine: Organization;
  let theirs: Organization;
  let operations: Operation[];

  before(async () => {
    server = await startTestServer();
    mine = await populatedOrganization(server, 'mine');
    theirs = await populatedOrganization(server, 'theirs');
    const openapi = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: unknown[]; parameters?: Array<{ in: string; name: string }> }>>;
    };
    operations = Object.entries(openapi.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, operation]) => operation.security !== undefined) // authenticated endpoints only
        .map(([method, operation]) => ({
          method,
          path,
          callerOrganization: (operation.parameters ?? []).some((p) => p.in === 'header' && p.name === 'X-Organization-ID'),
        })),
    );
  });
  after(async () => server.close());

  const fill = (path: string, ids: Record<string, string>) =>
    path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      assert.ok(ids[name], `the walk knows no value for {${name}} in ${path}: add one to test/support/tenants.ts`);
      return ids[name]!;
    });

  /** Their distinctive strings: their names, ids and secrets. */
  const leaks = (text: string, except: readonly string[] = []) => {
    // An account's number (the accounts API's `id`) is a small integer: it leaks as a JSON id, not as a digit anywhere.
    const needles = [theirs.marker, ...Object.entries(theirs.ids).map(([name, value]) => (name === 'id' ? `"id":${value}` : value))];
    const found = needles.filter((s) => !except.includes(s) && text.includes(s));
    return found;
  };

  async function call(operation: Operation, path: string, headers: Record<string, string> = {}) {
    const response = await server.api(path, {
      method: operation.method.toUpperCase(),
      token: mine.admin.token,
      headers,
      ...(WRITE_METHODS.has(operation.method) && validBody(operation.method, operation.path) !== undefined && { json: validBody(operation.method, operation.path) }),
    });
    return { status: response.status, text: await response.text() };
  }

  test('the walk covers the organization-scoped endpoints of every resource', () => {
    const scoped = operations.filter((o) => o.path.includes('{organizationID}'));
    for (const family of ['groups', 'users', 'projects', 'allocations', 'serviceaccounts', 'roles', 'acl', 'quotas', 'oauth2providers', 'applications']) {
      assert.ok(scoped.some((o) => o.path.includes(`/${family}`)), `no ${family} endpoint in the OpenAPI document`);
    }
    assert.ok(scoped.length >= 35, `only ${scoped.length} organization-scoped operations`);
  });

  test("every endpoint, with their organization in the path, answers 403 or 404 and never their data", async () => {
    const failures: string[] = [];
    for (const operation of operations.filter((o) => o.path.includes('{organizationID}'))) {
      const path = fill(operation.path, theirs.ids);
      const { status, text } = await call(operation, path);
      // The path itself names their ids: an error may repeat what the caller sent, nothing more.
      const named = Object.values(theirs.ids).filter((id) => path.includes(id));
      if (![403, 404].includes(status)) failures.push(`${operation.method.toUpperCase()} ${path}: ${status} ${text.slice(0, 200)}`);
      else if (leaks(text, named).length > 0) failures.push(`${operation.method.toUpperCase()} ${path} leaked ${leaks(text, named)}`);
    }
    assert.deepEqual(failures, []);
  });

  test('every endpoint, with my organization but their resources in the path, answers 404 and never their data', async () => {
    const failures: string[] = [];
    for (const operation of operations.filter((o) => /\{organizationID\}.*\{[^}]+\}/.test(o.path))) {
      const ids = { ...theirs.ids, organizationID: mine.organizationId };
      const path = fill(operation.path, ids);
      const { status, text } = await call(operation, path);
      const named = Object.values(theirs.ids).filter((id) => path.includes(id));
      // Rotating one's own token is a 404 too: their service account is not in my organization.
      if (![403, 404].includes(status)) failures.push(`${operation.method.toUpperCase()} ${path}: ${status} ${text.slice(0, 200)}`);
      else if (leaks(text, named).length > 0) failures.push(`${operation.method.toUpperCase()} ${path} leaked ${leaks(text, named)}`);
    }
    assert.deepEqual(failures, []);
  });

  test('the walk covers the endpoints that act in the caller\'s organization (the compatible APIs)', () => {
    const compat = operations.filter((o) => o.callerOrganization);
    for (const path of ['/api/v1/users', '/api/v1/users/{userId}', '/api/v1/users/count', '/api/v1/apps', '/api/v1/apps/{appId}', '/auth/v1/users', '/auth/v1/users/{name}', '/v1/k8s/apps', '/v1/k8s/apps/{clientId}', '/v1/k8s/users', '/v1/k8s/users/{userId}', '/v1/k8s/groups', '/v1/k8s/groups/{groupName}', '/api/v2/accounts', '/api/v2/accounts/{id}', '/api/v2/accounts/{id}/password', '/api/v2/accounts/{id}/api-key']) {
      assert.ok(compat.some((o) => o.path === path), `${path} is not walked as acting in the caller's organization`);
    }
    assert.ok(compat.every((o) => !o.path.includes('{organizationID}')));
  });

  test("every caller-organization endpoint, naming their organization (by id or tenant number), answers 403 and never their data", async () => {
    const theirTenantId = ((await (await server.api(`/api/v1/organizations/${theirs.organizationId}`)).json()) as { metadata: { tenantId: number } }).metadata.tenantId;
    assert.equal(typeof theirTenantId, 'number');
    const failures: string[] = [];
    for (const operation of operations.filter((o) => o.callerOrganization)) {
      for (const named of [theirs.organizationId, String(theirTenantId)]) {
        const path = fill(operation.path, theirs.ids);
        const { status, text } = await call(operation, path, { 'X-Organization-ID': named });
        const echoed = [theirs.marker, ...Object.values(theirs.ids)].filter((id) => path.includes(id));
        if (status !== 403) failures.push(`${operation.method.toUpperCase()} ${path} as ${named}: ${status} ${text.slice(0, 200)}`);
        else if (leaks(text, echoed).length > 0) failures.push(`${operation.method.toUpperCase()} ${path} leaked ${leaks(text, echoed)}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test('every caller-organization endpoint, with their resources in the path, answers 404 and never their data', async () => {
    const failures: string[] = [];
    for (const operation of operations.filter((o) => o.callerOrganization && o.path.includes('{'))) {
      const path = fill(operation.path, theirs.ids);
      const { status, text } = await call(operation, path);
      // A group is named by its name, which holds their marker: an error may repeat what the caller sent.
      const echoed = [theirs.marker, ...Object.values(theirs.ids)].filter((id) => path.includes(id));
      if (status !== 404) failures.push(`${operation.method.toUpperCase()} ${path}: ${status} ${text.slice(0, 200)}`);
      else if (leaks(text, echoed).length > 0) failures.push(`${operation.method.toUpperCase()} ${path} leaked ${leaks(text, echoed)}`);
    }
    assert.deepEqual(failures, []);
  });

  test('endpoints outside organizations show only my own tenant', async () => {
    const organizations = await server.api('/api/v1/organizations', { token: mine.admin.token });
    assert.equal(organizations.status, 200);
    const list = (await organizations.json()) as Array<{ metadata: { id: string } }>;
    assert.deepEqual(list.map((o) => o.metadata.id), [mine.organizationId]);

    const byEmail = await server.api(`/api/v1/organizations?email=${encodeURIComponent(`${theirs.marker}@example.com`)}`, { token: mine.admin.token });
    assert.equal(byEmail.status, 403, 'looking up another user by email is for platform administrators');

    const create = await server.api('/api/v1/organizations', { method: 'POST', token: mine.admin.token, json: { metadata: { name: 'mine-too' }, spec: { organizationType: 'adhoc' } } });
    assert.equal(create.status, 403);

    const acl = await server.api('/api/v1/acl', { token: mine.admin.token });
    assert.equal(acl.status, 200);
    const text = await acl.text();
    assert.ok(text.includes(mine.organizationId));
    assert.deepEqual(leaks(text), []);

    for (const operation of operations.filter((o) => !o.path.includes('{'))) {
      const { text: body } = await call(operation, operation.path);
      assert.deepEqual(leaks(body), [], `${operation.method.toUpperCase()} ${operation.path}`);
    }
  });

  test('their resources are untouched by all of that', async () => {
    for (const [path, field] of [
      [`/api/v1/organizations/${theirs.organizationId}/groups/${theirs.ids.groupid}`, 'metadata'],
      [`/api/v1/organizations/${theirs.organizationId}/projects/${theirs.ids.projectID}`, 'metadata'],
      [`/api/v1/organizations/${theirs.organizationId}/applications/${theirs.ids.applicationID}`, 'metadata'],
    ] as const) {
      const response = await server.api(path);
      assert.equal(response.status, 200, path);
      const body = (await response.json()) as Record<string, { provisioningStatus?: string; deletionTime?: string }>;
      assert.equal(body[field]!.deletionTime, undefined, `${path} was not deleted`);
    }
    const users = await server.api(`/api/v1/organizations/${theirs.organizationId}/users`);
    assert.equal(((await users.json()) as unknown[]).length, 1);
    for (const family of ['groups', 'users', 'projects', 'serviceaccounts', 'oauth2providers', 'applications', 'allocations']) {
      const list = await (await server.api(`/api/v1/organizations/${theirs.organizationId}/${family}`)).text();
      assert.ok(!list.includes('walk-intruder') && !list.includes('walked'), `nothing was written into their ${family}`);
    }
    const quotas = (await (await server.api(`/api/v1/organizations/${theirs.organizationId}/quotas`)).json()) as { quotas: Array<{ kind: string; quantity: number }> };
    assert.notEqual(quotas.quotas.find((q) => q.kind === 'servers')?.quantity, 1000);
    const organization = await server.api(`/api/v1/organizations/${theirs.organizationId}`);
    assert.equal(((await organization.json()) as { metadata: { name: string } }).metadata.name, `org-${theirs.marker}`);
    // Their administrator's token was not rotated away by my attempts.
    assert.equal((await server.api(`/api/v1/organizations/${theirs.organizationId}/users`, { token: theirs.admin.token })).status, 200);
  });
});
