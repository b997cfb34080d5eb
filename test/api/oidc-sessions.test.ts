import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorize, createTenant, refreshRequest, signIn, type Tenant, tokenRequest, type Tokens, userinfoRequest } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('sessions: one per client and user, bearer tokens on the admin API, activity', () => {
  let server: TestServer;
  let tenant: Tenant;

  const usersOf = (tenantOf: Tenant, token: string) => server.api(`/api/v1/organizations/${tenantOf.organizationId}/users`, { token });
  const addGroup = async (of: Tenant, spec: Record<string, unknown>) => {
    const response = await server.api(`/api/v1/organizations/${of.organizationId}/groups`, {
      method: 'POST',
      json: { metadata: { name: `g-${Math.random().toString(36).slice(2, 8)}` }, spec: { userIDs: [], serviceAccountIDs: [], ...spec } },
    });
    assert.equal(response.status, 201, await response.clone().text());
  };
  const patchApplication = async (of: Tenant, id: string, json: unknown) => {
    const response = await server.api(`/api/v1/organizations/${of.organizationId}/applications/${id}`, { method: 'PATCH', json });
    assert.equal(response.status, 200, await response.clone().text());
  };

  before(async () => {
    server = await startTestServer();
    tenant = await createTenant(server);
    await addGroup(tenant, { roleIDs: ['user'], userIDs: [tenant.userId] });
  });
  after(async () => server.close());

  test("a user's access token is a bearer on the admin API with the user's roles, in the user's organization only", async () => {
    const { access_token } = await signIn(server, tenant);
    const list = await usersOf(tenant, access_token);
    assert.equal(list.status, 200, await list.clone().text());
    assert.ok(((await list.json()) as Array<{ metadata: { id: string } }>).some((user) => user.metadata.id === tenant.userId));
    // The user role reads users but does not create them.
    const create = await server.api(`/api/v1/organizations/${tenant.organizationId}/users`, {
      method: 'POST',
      token: access_token,
      json: { metadata: { name: 'someone' }, spec: { subject: 'someone@example.com', state: 'active', groupIDs: [] } },
    });
    assert.equal(create.status, 403);
    const other = await createTenant(server);
    assert.equal((await usersOf(other, access_token)).status, 403);

    // Without a group, no roles: authenticated, and forbidden.
    const { access_token: noRoles } = await signIn(server, other);
    assert.equal((await usersOf(other, noRoles)).status, 403);
    assert.equal((await userinfoRequest(server, noRoles)).status, 200);
    // An ID token or garbage is no bearer.
    assert.equal((await usersOf(tenant, 'a.b.c')).status, 401);
  });

  test('a new login through the same client supersedes the previous session: its tokens stop working everywhere', async () => {
    const first = await signIn(server, tenant);
    assert.equal((await usersOf(tenant, first.access_token)).status, 200);
    const second = await signIn(server, tenant);

    assert.equal((await userinfoRequest(server, first.access_token)).status, 401);
    assert.equal((await usersOf(tenant, first.access_token)).status, 401);
    const refreshed = await refreshRequest(server, tenant, first.refresh_token!);
    assert.equal(refreshed.status, 400);
    assert.equal(((await refreshed.json()) as { error: string }).error, 'invalid_grant');

    assert.equal((await userinfoRequest(server, second.access_token)).status, 200);
    assert.equal((await usersOf(tenant, second.access_token)).status, 200);
    assert.equal((await refreshRequest(server, tenant, second.refresh_token!)).status, 200);
  });

  test('sessions of the same user through different clients are independent', async () => {
    const confidential = await signIn(server, tenant);
    const { code, verifier } = await authorize(server, { clientId: tenant.publicClientId, redirectUri: tenant.redirectUri, email: tenant.email, password: tenant.password });
    const response = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: tenant.redirectUri, code_verifier: verifier, client_id: tenant.publicClientId });
    assert.equal(response.status, 200);
    const publicTokens = (await response.json()) as Tokens;
    assert.equal((await userinfoRequest(server, confidential.access_token)).status, 200);
    assert.equal((await userinfoRequest(server, publicTokens.access_token)).status, 200);
  });

  test('client credentials: one session per client, the application acts with the roles of its groups', async () => {
    const credentials = { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret };
    const first = (await (await tokenRequest(server, { grant_type: 'client_credentials' }, credentials)).json()) as Tokens;
    assert.equal((await usersOf(tenant, first.access_token)).status, 403, 'no group yet');
    const second = (await (await tokenRequest(server, { grant_type: 'client_credentials' }, credentials)).json()) as Tokens;
    // Within CLIENT_CREDENTIALS_SESSION_SECONDS the second token joins the first one's generation (docs/retention.md).
    assert.equal((await usersOf(tenant, first.access_token)).status, 403, 'the same session as the second token');
    assert.equal((await usersOf(tenant, second.access_token)).status, 403);
    // The application's groups: membership is the application's spec.groupIDs.
    const group = await server.api(`/api/v1/organizations/${tenant.organizationId}/groups`, {
      method: 'POST',
      json: { metadata: { name: 'robots' }, spec: { roleIDs: ['reader'], userIDs: [], serviceAccountIDs: [] } },
    });
    assert.equal(group.status, 201);
    await patchApplication(tenant, tenant.confidential.clientId, { spec: { groupIDs: [((await group.json()) as { metadata: { id: string } }).metadata.id] } });
    assert.equal((await usersOf(tenant, second.access_token)).status, 200);
  });

  test("a disabled or deleted application's tokens stop working at once; a suspended user's too", async () => {
    const owner = await createTenant(server);
    await addGroup(owner, { roleIDs: ['user'], userIDs: [owner.userId] });
    const credentials = { clientId: owner.confidential.clientId, secret: owner.confidential.clientSecret };
    const user = await signIn(server, owner);
    const app = (await (await tokenRequest(server, { grant_type: 'client_credentials' }, credentials)).json()) as Tokens;
    assert.equal((await usersOf(owner, user.access_token)).status, 200);

    await patchApplication(owner, owner.confidential.clientId, { spec: { enabled: false } });
    assert.equal((await userinfoRequest(server, user.access_token)).status, 401);
    assert.equal((await usersOf(owner, user.access_token)).status, 401);
    assert.equal((await usersOf(owner, app.access_token)).status, 401);
    assert.equal((await refreshRequest(server, owner, user.refresh_token!)).status, 401, 'a disabled client cannot authenticate');

    await patchApplication(owner, owner.confidential.clientId, { spec: { enabled: true } });
    const again = await signIn(server, owner);
    assert.equal((await usersOf(owner, again.access_token)).status, 200);
    const deleted = await server.api(`/api/v1/organizations/${owner.organizationId}/applications/${owner.confidential.clientId}`, { method: 'DELETE' });
    assert.ok(deleted.status === 202 || deleted.status === 204, `delete: ${deleted.status}`);
    assert.equal((await userinfoRequest(server, again.access_token)).status, 401);
    assert.equal((await usersOf(owner, again.access_token)).status, 401);

    // A suspended user: the public client's session stops working.
    const { code, verifier } = await authorize(server, { clientId: owner.publicClientId, redirectUri: owner.redirectUri, email: owner.email, password: owner.password });
    const response = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: owner.redirectUri, code_verifier: verifier, client_id: owner.publicClientId });
    const viaPublic = (await response.json()) as Tokens;
    assert.equal((await userinfoRequest(server, viaPublic.access_token)).status, 200);
    const current = (await (await server.api(`/api/v1/organizations/${owner.organizationId}/users/${owner.userId}`)).json()) as any;
    const suspended = await server.api(`/api/v1/organizations/${owner.organizationId}/users/${owner.userId}`, {
      method: 'PUT',
      json: { metadata: { name: current.metadata.name }, spec: { subject: current.spec.subject, state: 'suspended', groupIDs: current.spec.groupIDs } },
    });
    assert.equal(suspended.status, 200, await suspended.clone().text());
    assert.equal((await userinfoRequest(server, viaPublic.access_token)).status, 401);
    assert.equal((await usersOf(owner, viaPublic.access_token)).status, 401);
    const refreshed = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: viaPublic.refresh_token!, client_id: owner.publicClientId });
    assert.equal(refreshed.status, 400);
  });

  test("a login sets the user's lastActive; activity is recorded at most once a minute per user", async () => {
    const user = await createTenant(server);
    const readUser = async () =>
      (await (await server.api(`/api/v1/organizations/${user.organizationId}/users/${user.userId}`)).json()) as { status: { lastActive?: string } };
    assert.equal((await readUser()).status.lastActive, undefined);
    const before = Date.now();
    const tokens = await signIn(server, user);
    const lastActive = (await readUser()).status.lastActive;
    assert.ok(lastActive, 'lastActive is set by the login');
    assert.ok(Date.parse(lastActive) >= before - 1000 && Date.parse(lastActive) <= Date.now());

    await signIn(server, user);
    const again = await signIn(server, user);
    for (let i = 0; i < 3; i++) assert.equal((await userinfoRequest(server, again.access_token)).status, 200);
    assert.equal((await userinfoRequest(server, tokens.access_token)).status, 401);
    const activity = (await server.service.stores.events.readStream(`useractivity-${user.userId}`)).filter((event) => event.type === 'user.activity.recorded');
    assert.equal(activity.length, 1, 'throttled to one event a minute');
    assert.deepEqual(Object.keys(activity[0]!.data as object).sort(), ['at', 'organizationId', 'userId']);
  });
});
