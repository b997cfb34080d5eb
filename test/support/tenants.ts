import assert from 'node:assert/strict';
import type { TestServer } from './server.js';

let counter = 0;

export async function created(server: TestServer, path: string, json: unknown, token?: string): Promise<any> {
  const response = await server.api(path, { method: 'POST', json, ...(token && { token }) });
  assert.ok([200, 201, 202].includes(response.status), `POST ${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

/** A new organization, through the API (asserting its 202); answers its id. */
export async function createOrganization(server: TestServer, name: string): Promise<string> {
  const response = await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name }, spec: { organizationType: 'adhoc' } } });
  assert.equal(response.status, 202, await response.clone().text());
  return ((await response.json()) as { metadata: { id: string } }).metadata.id;
}

/** A service account of the organization in a group with the given roles: its token acts with those roles. */
export async function serviceAccountWithRoles(server: TestServer, organizationId: string, roleIDs: string[], projectIds: string[] = []) {
  const n = ++counter;
  const account = await created(server, `/api/v1/organizations/${organizationId}/serviceaccounts`, { metadata: { name: `robot-${n}` }, spec: {} });
  const group = await created(server, `/api/v1/organizations/${organizationId}/groups`, {
    metadata: { name: `robots-${n}` },
    spec: { roleIDs, userIDs: [], serviceAccountIDs: [account.metadata.id] },
  });
  for (const projectId of projectIds) {
    const project = (await (await server.api(`/api/v1/organizations/${organizationId}/projects/${projectId}`)).json()) as any;
    const put = await server.api(`/api/v1/organizations/${organizationId}/projects/${projectId}`, {
      method: 'PUT',
      json: { metadata: { name: project.metadata.name }, spec: { groupIDs: [...project.spec.groupIDs, group.metadata.id] } },
    });
    assert.equal(put.status, 200, await put.text());
  }
  return { token: account.status.accessToken as string, serviceAccountId: account.metadata.id as string, groupId: group.metadata.id as string };
}

/** An organization holding one of everything, with distinctive names to look for in responses. */
export async function populatedOrganization(server: TestServer, label: string) {
  const marker = `${label}-${++counter}-${Date.now().toString(36)}`;
  const org = await created(server, '/api/v1/organizations', { metadata: { name: `org-${marker}` }, spec: { organizationType: 'adhoc' } });
  const organizationId = org.metadata.id as string;
  const base = `/api/v1/organizations/${organizationId}`;
  const admin = await serviceAccountWithRoles(server, organizationId, ['administrator']);
  const user = await created(server, `${base}/users`, { metadata: { name: `user-${marker}` }, spec: { subject: `${marker}@example.com`, state: 'active', groupIDs: [] } });
  const group = await created(server, `${base}/groups`, { metadata: { name: `group-${marker}` }, spec: { roleIDs: ['reader'], userIDs: [user.metadata.id], serviceAccountIDs: [] } });
  const project = await created(server, `${base}/projects`, { metadata: { name: `project-${marker}` }, spec: { groupIDs: [group.metadata.id] } });
  const allocation = await created(server, `${base}/projects/${project.metadata.id}/allocations`, {
    metadata: { name: `allocation-${marker}` },
    spec: { kind: 'cluster', id: `cluster-${marker}`, allocations: [{ kind: 'servers', committed: 1, reserved: 0 }] },
  });
  const provider = await created(server, `${base}/oauth2providers`, {
    metadata: { name: `idp-${marker}` },
    spec: { type: 'google', issuer: 'https://accounts.google.com', clientID: `client-${marker}`, clientSecret: `secret-${marker}` },
  });
  const application = await created(server, `${base}/applications`, {
    metadata: { name: `app-${marker}` },
    spec: { redirectURIs: ['https://app.example.com/cb'], grantTypes: ['authorization_code', 'client_credentials'], public: false, groupIDs: [] },
  });
  // The accounts API (seed 002, docs/accounts.md) names an account by its number, drawn when the API first shows it.
  const accounts = await server.api('/api/v2/accounts', { headers: { 'X-Organization-ID': organizationId } });
  assert.equal(accounts.status, 200, await accounts.clone().text());
  const account = ((await accounts.json()) as { items: Array<{ id: number; email?: string }> }).items.find((a) => a.email === user.spec.subject);
  assert.ok(account, 'the user is an account');
  return {
    marker,
    organizationId,
    admin,
    ids: {
      organizationID: organizationId,
      groupid: group.metadata.id as string,
      userID: user.metadata.id as string,
      projectID: project.metadata.id as string,
      allocationID: allocation.metadata.id as string,
      serviceAccountID: admin.serviceAccountId,
      providerID: provider.metadata.id as string,
      applicationID: application.metadata.id as string,
      // The compatible APIs (docs/compat.md) name users and groups without their organization.
      userId: user.metadata.id as string,
      groupName: group.metadata.name as string,
      appId: application.metadata.id as string,
      clientId: application.metadata.id as string,
      // /auth/v1/users (seed 001) names a user by its login name.
      name: user.spec.subject as string,
      // A linked identity needs a federated login (test/api/federation.test.ts); the walk needs a path to try.
      identityID: `identity-${marker}`,
      // /api/v2/accounts/{id} (seed 002): the account's number.
      id: String(account.id),
    } as Record<string, string>,
  };
}
