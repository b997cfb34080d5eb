import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { created, populatedOrganization, serviceAccountWithRoles } from '../support/tenants.js';

/**
 * The built-in `auditor` role: identity:audit read and read of every other
 * family, nothing else. Proven by walking the OpenAPI document, so a new
 * endpoint is walked without anyone remembering to add it.
 */
type Organization = Awaited<ReturnType<typeof populatedOrganization>>;
interface Operation {
  method: string;
  path: string;
  /** "Requires <operation> on <family>." for routes the path's organization guards. */
  description?: string;
}

const WRITE_METHODS = new Set(['post', 'put', 'patch', 'delete']);

/** A valid body per kind of write, so that a missing permission check shows as a success rather than hide behind a 400. */
function validBody(method: string, path: string): unknown {
  const family = path.split('/').filter((part) => part && !part.startsWith('{')).at(-1);
  const metadata = { name: 'walk-auditor' };
  if (method === 'patch') return { metadata: { description: 'walked' } };
  switch (family) {
    case 'organizations':
      return { metadata, spec: { organizationType: 'adhoc' } };
    case 'groups':
      return { metadata, spec: { roleIDs: ['reader'], userIDs: [], serviceAccountIDs: [] } };
    case 'users':
      return { metadata, spec: { subject: 'walk-auditor@example.com', state: 'active', groupIDs: [] } };
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
    default:
      return undefined;
  }
}

describe('the auditor role', () => {
  let server: TestServer;
  let org: Organization;
  let operations: Operation[];
  let auditor: { token: string; serviceAccountId: string; groupId: string };
  let reader: { token: string };
  const providerSecret = () => `secret-${org.marker}`;

  before(async () => {
    server = await startTestServer();
    org = await populatedOrganization(server, 'audited');
    auditor = await serviceAccountWithRoles(server, org.organizationId, ['auditor']);
    reader = await serviceAccountWithRoles(server, org.organizationId, ['reader']);
    const openapi = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: unknown[]; description?: string }>>;
    };
    operations = Object.entries(openapi.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, operation]) => operation.security !== undefined)
        .map(([method, operation]) => ({ method, path, ...(operation.description !== undefined && { description: operation.description }) })),
    );
  });
  after(async () => server.close());

  const fill = (path: string) =>
    path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      assert.ok(org.ids[name], `the walk knows no value for {${name}} in ${path}`);
      return org.ids[name]!;
    });
  const call = async (token: string, operation: Operation) => {
    const body = WRITE_METHODS.has(operation.method) ? validBody(operation.method, operation.path) : undefined;
    const response = await server.api(fill(operation.path), { method: operation.method.toUpperCase(), token, ...(body !== undefined && { json: body }) });
    return { status: response.status, text: await response.text() };
  };

  test('is listed among the roles an organization may grant, and the OpenAPI document names it', async () => {
    const roles = (await (await server.api(`/api/v1/organizations/${org.organizationId}/roles`, { token: auditor.token })).json()) as Array<{ metadata: { id: string } }>;
    assert.ok(roles.some((role) => role.metadata.id === 'auditor'));
    const openapi = await (await fetch(`${server.baseUrl}/openapi.json`)).text();
    assert.match(openapi, /Built-in roles: [^"]*auditor/);
  });

  test('an organization administrator may grant it (it holds nothing the administrator does not); a reader may not', async () => {
    const group = { metadata: { name: 'auditors' }, spec: { roleIDs: ['auditor'], userIDs: [], serviceAccountIDs: [] } };
    const byAdmin = await server.api(`/api/v1/organizations/${org.organizationId}/groups`, { method: 'POST', token: org.admin.token, json: group });
    assert.equal(byAdmin.status, 201, await byAdmin.text());
    const byReader = await server.api(`/api/v1/organizations/${org.organizationId}/groups`, { method: 'POST', token: reader.token, json: { ...group, metadata: { name: 'auditors-2' } } });
    assert.equal(byReader.status, 403);
  });

  test('the ACL shows identity:audit read and read of every family, nothing else; the reader has no identity:audit', async () => {
    const acl = (await (await server.api(`/api/v1/organizations/${org.organizationId}/acl`, { token: auditor.token })).json()) as {
      organization: { endpoints: Array<{ name: string; operations: string[] }> };
    };
    assert.ok(acl.organization.endpoints.length >= 11);
    for (const endpoint of acl.organization.endpoints) assert.deepEqual(endpoint.operations, ['read'], endpoint.name);
    assert.ok(acl.organization.endpoints.some((e) => e.name === 'identity:audit'));
    assert.ok(acl.organization.endpoints.some((e) => e.name === 'identity:oauth2providers'));
    const readerAcl = (await (await server.api(`/api/v1/acl`, { token: reader.token })).json()) as { organization: { endpoints: Array<{ name: string }> } };
    assert.ok(!readerAcl.organization.endpoints.some((e) => e.name === 'identity:audit'));
  });

  test('every write of the admin API answers the auditor 403, and nothing changed', async () => {
    const writes = operations.filter((o) => WRITE_METHODS.has(o.method) && o.path.startsWith('/api/'));
    assert.ok(writes.length >= 25, `only ${writes.length} writes in the OpenAPI document`);
    const failures: string[] = [];
    for (const operation of writes) {
      // One's own password is the caller's own business, not the organization's (a service account has none: not a 2xx either).
      if (operation.path === '/api/v1/me/password') continue;
      // A search by POST (seed 002's filter expressions) is a read, not a write.
      if (operation.path === '/api/v2/accounts/search' || operation.path.endsWith('/users/search')) continue;
      const { status, text } = await call(auditor.token, operation);
      if (status !== 403) failures.push(`${operation.method.toUpperCase()} ${operation.path}: ${status} ${text.slice(0, 160)}`);
    }
    assert.deepEqual(failures, []);
    for (const family of ['groups', 'users', 'projects', 'serviceaccounts', 'oauth2providers', 'applications']) {
      const list = await (await server.api(`/api/v1/organizations/${org.organizationId}/${family}`)).text();
      assert.ok(!list.includes('walk-auditor') && !list.includes('walked'), `nothing was written into ${family}`);
    }
    // The administrator's token was not rotated away.
    assert.equal((await server.api(`/api/v1/organizations/${org.organizationId}/users`, { token: org.admin.token })).status, 200);
  });

  test('every read of the organization answers the auditor (never 403), and none hands out a secret', async () => {
    const reads = operations.filter((o) => o.method === 'get' && o.path.includes('{organizationID}'));
    assert.ok(reads.length >= 18, `only ${reads.length} organization reads`);
    const failures: string[] = [];
    const secrets = [providerSecret(), org.admin.token, auditor.token, reader.token];
    for (const operation of reads) {
      const { status, text } = await call(auditor.token, operation);
      // A linked identity needs a federated login: the walk's made-up one is a 404, never a 403.
      const expected = operation.path.includes('{identityID}') ? 404 : 200;
      if (status !== expected) failures.push(`${operation.path}: ${status} ${text.slice(0, 160)}`);
      const leaked = secrets.filter((secret) => text.includes(secret));
      if (leaked.length > 0) failures.push(`${operation.path} answered a secret`);
    }
    assert.deepEqual(failures, []);
    const users = (await (await server.api(`/api/v1/organizations/${org.organizationId}/users`, { token: auditor.token })).json()) as unknown[];
    assert.ok(users.length >= 1);
  });

  test('the auditor reads the ledger: the tree head and proofs; the reader gets 403 on them', async () => {
    const { events } = server.service.stores;
    assert.ok(await server.service.ledger.builder.waitFor(await events.headPosition(), 10_000));
    const head = await server.service.ledger.heads.sign();
    const treeHead = await server.api('/api/v1/audit/tree-head', { token: auditor.token });
    assert.equal(treeHead.status, 200, await treeHead.clone().text());
    assert.equal(((await treeHead.json()) as { tree_size: number }).tree_size, head.treeSize);
    const first = (await events.readAll())[0]!;
    const inclusion = await server.api(`/api/v1/audit/proofs/inclusion?position=${first.position.commit}&treeSize=${head.treeSize}`, { token: auditor.token });
    assert.equal(inclusion.status, 200, await inclusion.clone().text());
    const consistency = await server.api(`/api/v1/audit/proofs/consistency?from=1&to=${head.treeSize}`, { token: auditor.token });
    assert.equal(consistency.status, 200);

    for (const path of ['/api/v1/audit/tree-head', `/api/v1/audit/proofs/consistency?from=1&to=${head.treeSize}`]) {
      assert.equal((await server.api(path, { token: reader.token })).status, 403, path);
    }
    // Every route the OpenAPI document says requires identity:audit read: 403 for the reader, not for the auditor.
    for (const operation of operations.filter((o) => o.method === 'get' && o.description?.includes('read on identity:audit'))) {
      assert.equal((await call(reader.token, operation)).status, 403, operation.path);
      assert.notEqual((await call(auditor.token, operation)).status, 403, operation.path);
    }
  });

  test("an auditor of one organization reads nothing of another's", async () => {
    const other = await created(server, '/api/v1/organizations', { metadata: { name: `other-${org.marker}` }, spec: { organizationType: 'adhoc' } });
    for (const family of ['users', 'groups', 'projects']) {
      assert.equal((await server.api(`/api/v1/organizations/${other.metadata.id}/${family}`, { token: auditor.token })).status, 403, family);
    }
  });
});
