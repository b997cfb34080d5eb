import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { serviceAccountCredentials } from '../../src/api/service-accounts/credentials.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { createOrganization } from '../support/tenants.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const TOKEN_SHAPE = /^sa_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/;

async function expectStatus(response: Response, status: number, error?: string) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  if (error) {
    const body = (await response.json()) as { error: string; error_description: string };
    assert.equal(body.error, error);
    assert.equal(typeof body.error_description, 'string');
  }
}

describe('service accounts API', () => {
  let server: TestServer;
  /** Every token handed out, to check that none was ever written down. */
  const issued: string[] = [];
  let orgId: string;
  let otherOrgId: string;

  const createOrg = (name: string) => createOrganization(server, name);
  const base = (org = orgId) => `/api/v1/organizations/${org}/serviceaccounts`;
  const createAccount = async (name: string, extra: Record<string, unknown> = {}, org = orgId, token?: string) => {
    const response = await server.api(base(org), { method: 'POST', json: { metadata: { name }, ...extra }, ...(token && { token }) });
    await expectStatus(response, 201);
    const body = (await response.json()) as any;
    issued.push(body.status.accessToken);
    return body;
  };
  const createGroup = async (name: string, roleIDs: string[], serviceAccountIDs: string[] = [], org = orgId) => {
    const response = await server.api(`/api/v1/organizations/${org}/groups`, {
      method: 'POST',
      json: { metadata: { name }, spec: { roleIDs, serviceAccountIDs } },
    });
    await expectStatus(response, 201);
    return ((await response.json()) as any).metadata.id as string;
  };
  const rotate = async (id: string, token?: string, org = orgId) => {
    const response = await server.api(`${base(org)}/${id}/rotate`, { method: 'POST', ...(token && { token }) });
    await expectStatus(response, 200);
    const body = (await response.json()) as any;
    issued.push(body.status.accessToken);
    return body;
  };

  before(async () => {
    server = await startTestServer();
    orgId = await createOrg('acme');
    otherOrgId = await createOrg('globex');
  });
  after(async () => server.close());

  test('POST answers 201 with the token once; GET and the list never show it', async () => {
    const before = Date.now();
    const created = await createAccount('ci-bot', { metadata: { name: 'ci-bot', description: 'deploys', tags: [{ name: 'team', value: 'platform' }] } });
    assert.match(created.status.accessToken, TOKEN_SHAPE);
    assert.equal(created.metadata.name, 'ci-bot');
    assert.equal(created.metadata.description, 'deploys');
    assert.deepEqual(created.metadata.tags, [{ name: 'team', value: 'platform' }]);
    assert.equal(created.metadata.organizationId, orgId);
    assert.equal(created.metadata.createdBy, 'platform-administrator');
    assert.equal(created.metadata.provisioningStatus, 'provisioned');
    assert.deepEqual(created.spec, { groupIDs: [] });
    // The default lifetime is 90 days.
    const expiry = Date.parse(created.status.expiry);
    assert.ok(expiry >= before + 90 * DAY_MS - 1000 && expiry <= Date.now() + 90 * DAY_MS + 1000, created.status.expiry);

    const read = await server.api(`${base()}/${created.metadata.id}`);
    await expectStatus(read, 200);
    const body = (await read.json()) as any;
    assert.deepEqual(body, { ...created, status: { expiry: created.status.expiry } });

    const list = await server.api(`${base()}?filterBy=name==ci-bot`);
    await expectStatus(list, 200);
    assert.equal(list.headers.get('x-total-count'), '1');
    const items = (await list.json()) as any[];
    assert.equal(items.length, 1);
    assert.deepEqual(items[0], body);
    const everything = JSON.stringify(items) + JSON.stringify(body);
    assert.ok(!everything.includes('accessToken') && !everything.includes(created.status.accessToken));
    assert.ok(!everything.includes('tokenSha256'));
  });

  test('the token is a bearer credential: authenticated, and allowed what its groups allow', async () => {
    const account = await createAccount('reporter');
    const token = account.status.accessToken;
    // No group yet: known, but not permitted.
    await expectStatus(await server.api(base(), { token }), 403, 'forbidden');
    // In a group with the administrator role, it may.
    const admins = await createGroup('admins', ['administrator']);
    const put = await server.api(`${base()}/${account.metadata.id}`, { method: 'PUT', json: { metadata: { name: 'reporter' }, spec: { groupIDs: [admins] } } });
    await expectStatus(put, 200);
    assert.deepEqual(((await put.json()) as any).spec.groupIDs, [admins]);
    const list = await server.api(base(), { token });
    await expectStatus(list, 200);
    assert.ok(((await list.json()) as any[]).some((a) => a.metadata.id === account.metadata.id));
    // Another organization stays out of reach, whatever its roles at home.
    await expectStatus(await server.api(base(otherOrgId), { token }), 403, 'forbidden');
    // What it creates records it as the actor.
    const made = await createAccount('made-by-a-robot', {}, orgId, token);
    assert.equal(made.metadata.createdBy, 'reporter');
  });

  test("spec.groupIDs follows the groups: joining through a group's own update shows on the account", async () => {
    const account = await createAccount('grouped');
    const viaGroup = await createGroup('readers', ['reader'], [account.metadata.id]);
    const read = (await (await server.api(`${base()}/${account.metadata.id}`)).json()) as any;
    assert.deepEqual(read.spec.groupIDs, [viaGroup]);
    // A PUT replaces the memberships; the group sees it too.
    const other = await createGroup('users', ['user']);
    const put = await server.api(`${base()}/${account.metadata.id}`, { method: 'PUT', json: { metadata: { name: 'grouped' }, spec: { groupIDs: [other] } } });
    await expectStatus(put, 200);
    assert.deepEqual(((await put.json()) as any).spec.groupIDs, [other]);
    const group = (await (await server.api(`/api/v1/organizations/${orgId}/groups/${viaGroup}`)).json()) as any;
    assert.deepEqual(group.spec.serviceAccountIDs, []);
    // Deleting the group takes it off the account.
    await expectStatus(await server.api(`/api/v1/organizations/${orgId}/groups/${other}`, { method: 'DELETE' }), 200);
    const after = (await (await server.api(`${base()}/${account.metadata.id}`)).json()) as any;
    assert.deepEqual(after.spec.groupIDs, []);
  });

  test('POST with groups puts the new account in them at once', async () => {
    const group = await createGroup('deployers', ['administrator']);
    const account = await createAccount('deployer', { spec: { groupIDs: [group] } });
    assert.deepEqual(account.spec.groupIDs, [group]);
    await expectStatus(await server.api(base(), { token: account.status.accessToken }), 200);
  });

  test('after a rotation the old token is refused at once and the new one works', async () => {
    const group = await createGroup('rotators', ['administrator']);
    const account = await createAccount('rotating', { spec: { groupIDs: [group] } });
    const old = account.status.accessToken;
    await expectStatus(await server.api(base(), { token: old }), 200);
    const rotated = await rotate(account.metadata.id);
    assert.match(rotated.status.accessToken, TOKEN_SHAPE);
    assert.notEqual(rotated.status.accessToken, old);
    assert.equal(rotated.metadata.id, account.metadata.id);
    assert.deepEqual(rotated.spec.groupIDs, [group]);
    assert.equal(rotated.metadata.modifiedBy, 'platform-administrator');
    assert.ok(Date.parse(rotated.status.expiry) >= Date.parse(account.status.expiry));
    await expectStatus(await server.api(base(), { token: old }), 401, 'access_denied');
    await expectStatus(await server.api(base(), { token: rotated.status.accessToken }), 200);
    const read = (await (await server.api(`${base()}/${account.metadata.id}`)).json()) as any;
    assert.equal(read.status.expiry, rotated.status.expiry);
    assert.ok(!('accessToken' in read.status));
  });

  test('a service account rotates its own token without any role; it cannot rotate another', async () => {
    const self = await createAccount('self-rotating');
    const other = await createAccount('someone-else');
    const rotated = await rotate(self.metadata.id, self.status.accessToken);
    assert.equal(rotated.metadata.modifiedBy, 'self-rotating');
    await expectStatus(await server.api(`${base()}/${self.metadata.id}/rotate`, { method: 'POST', token: self.status.accessToken }), 401);
    await expectStatus(await server.api(`${base()}/${other.metadata.id}/rotate`, { method: 'POST', token: rotated.status.accessToken }), 403, 'forbidden');
    // Its own id under another organization's path is not itself.
    await expectStatus(await server.api(`${base(otherOrgId)}/${self.metadata.id}/rotate`, { method: 'POST', token: rotated.status.accessToken }), 403);
    // The other account's token still works (nothing of it changed).
    await expectStatus(await server.api(base(), { token: other.status.accessToken }), 403, 'forbidden');
  });

  test('DELETE answers 200; the token is refused, the account gone, its name free', async () => {
    const group = await createGroup('doomed-admins', ['administrator']);
    const account = await createAccount('doomed', { spec: { groupIDs: [group] } });
    const token = account.status.accessToken;
    await expectStatus(await server.api(base(), { token }), 200);
    const response = await server.api(`${base()}/${account.metadata.id}`, { method: 'DELETE' });
    await expectStatus(response, 200);
    assert.equal(await response.text(), '');
    await expectStatus(await server.api(base(), { token }), 401, 'access_denied');
    await expectStatus(await server.api(`${base()}/${account.metadata.id}`), 404, 'not_found');
    await expectStatus(await server.api(`${base()}/${account.metadata.id}`, { method: 'DELETE' }), 404, 'not_found');
    await expectStatus(await server.api(`${base()}/${account.metadata.id}/rotate`, { method: 'POST' }), 404, 'not_found');
    const groupAfter = (await (await server.api(`/api/v1/organizations/${orgId}/groups/${group}`)).json()) as any;
    assert.deepEqual(groupAfter.spec.serviceAccountIDs, []);
    await createAccount('doomed');
  });

  test('an expired token is refused', async () => {
    const account = await createAccount('short-lived');
    const resolve = serviceAccountCredentials(server.service.stores.readModels, () => new Date(Date.parse(account.status.expiry) + 1));
    assert.equal(await resolve(account.status.accessToken), undefined);
    const resolveNow = serviceAccountCredentials(server.service.stores.readModels);
    const caller = await resolveNow(account.status.accessToken);
    assert.deepEqual(caller, {
      subject: 'short-lived',
      kind: 'service_account',
      platformAdministrator: false,
      organizationId: orgId,
      principalId: account.metadata.id,
    });
    // A forged secret for a real account, and tokens of other shapes, resolve to nobody.
    const forged = account.status.accessToken.slice(0, -4) + (account.status.accessToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.equal(await resolveNow(forged), undefined);
    assert.equal(await resolveNow('sa_not-a-token'), undefined);
    await expectStatus(await server.api(base(), { token: forged }), 401);
  });

  test('names are unique within an organization, whatever their case, and free elsewhere', async () => {
    await createAccount('unique-bot');
    await expectStatus(await server.api(base(), { method: 'POST', json: { metadata: { name: 'Unique-Bot' } } }), 409, 'conflict');
    await createAccount('unique-bot', {}, otherOrgId);
    const second = await createAccount('unique-bot-2');
    const rename = await server.api(`${base()}/${second.metadata.id}`, { method: 'PUT', json: { metadata: { name: 'unique-bot' } } });
    await expectStatus(rename, 409, 'conflict');
    const racers = await Promise.all(Array.from({ length: 6 }, () => server.api(base(), { method: 'POST', json: { metadata: { name: 'racer' } } })));
    for (const r of racers) if (r.status === 201) issued.push(((await r.json()) as any).status.accessToken);
    assert.deepEqual(racers.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409]);
  });

  test('PUT updates the metadata and records who and when', async () => {
    const account = await createAccount('renamable', { metadata: { name: 'renamable', description: 'old' } });
    const response = await server.api(`${base()}/${account.metadata.id}`, { method: 'PUT', json: { metadata: { name: 'renamed', tags: [{ name: 'a', value: 'b' }] } } });
    await expectStatus(response, 200);
    const updated = (await response.json()) as any;
    assert.equal(updated.metadata.name, 'renamed');
    assert.equal(updated.metadata.description, undefined);
    assert.deepEqual(updated.metadata.tags, [{ name: 'a', value: 'b' }]);
    assert.equal(updated.metadata.modifiedBy, 'platform-administrator');
    assert.ok(updated.metadata.modifiedTime);
    assert.equal(updated.metadata.creationTime, account.metadata.creationTime);
    assert.equal(updated.status.expiry, account.status.expiry);
    assert.ok(!('accessToken' in updated.status));
    // The token's subject follows the name.
    const caller = await serviceAccountCredentials(server.service.stores.readModels)(account.status.accessToken);
    assert.equal(caller?.subject, 'renamed');
    await createAccount('renamable');
  });

  test("another organization's account is not found under this one, for every method", async () => {
    const foreign = await createAccount('foreign', {}, otherOrgId);
    const path = `${base()}/${foreign.metadata.id}`;
    await expectStatus(await server.api(path), 404, 'not_found');
    await expectStatus(await server.api(path, { method: 'PUT', json: { metadata: { name: 'hijacked' } } }), 404, 'not_found');
    await expectStatus(await server.api(path, { method: 'DELETE' }), 404, 'not_found');
    await expectStatus(await server.api(`${path}/rotate`, { method: 'POST' }), 404, 'not_found');
    // It is untouched, and its token still works.
    const read = (await (await server.api(`${base(otherOrgId)}/${foreign.metadata.id}`)).json()) as any;
    assert.equal(read.metadata.name, 'foreign');
    assert.ok(await serviceAccountCredentials(server.service.stores.readModels)(foreign.status.accessToken));
    const listed = (await (await server.api(base())).json()) as any[];
    assert.ok(!listed.some((a) => a.metadata.id === foreign.metadata.id));
  });

  test('bad input is a 4xx naming the problem, and nothing is written', async () => {
    const count = async () => Number((await server.api(base())).headers.get('x-total-count'));
    const before = await count();
    await expectStatus(await server.api(base(), { method: 'POST', json: {} }), 400, 'invalid_request');
    await expectStatus(await server.api(base(), { method: 'POST', json: { metadata: { name: 'bad name!' } } }), 400, 'invalid_request');
    await expectStatus(await server.api(base(), { method: 'POST', json: { metadata: { name: 'x' }, extra: 1 } }), 400, 'invalid_request');
    await expectStatus(await server.api(base(), { method: 'POST', json: { metadata: { name: 'x' }, spec: { groupIDs: 'g' } } }), 400, 'invalid_request');
    await expectStatus(
      await server.api(base(), { method: 'POST', json: { metadata: { name: 'x' }, status: { accessToken: 'chosen-by-me' } } }),
      400,
      'invalid_request',
    );
    const unknownGroup = await server.api(base(), { method: 'POST', json: { metadata: { name: 'lonely' }, spec: { groupIDs: ['no-such-group'] } } });
    await expectStatus(unknownGroup, 400, 'invalid_request');
    const foreignGroup = await createGroup('theirs', ['reader'], [], otherOrgId);
    await expectStatus(await server.api(base(), { method: 'POST', json: { metadata: { name: 'lonely' }, spec: { groupIDs: [foreignGroup] } } }), 400);
    await expectStatus(await server.api(`${base()}?sortBy=nope`), 400, 'invalid_request');
    await expectStatus(await server.api(`${base()}?limit=0`), 400, 'invalid_request');
    await expectStatus(await server.api(base('no-such-org'), { method: 'POST', json: { metadata: { name: 'x' } } }), 404, 'not_found');
    await expectStatus(await server.api(base(), { token: null }), 401, 'access_denied');
    await expectStatus(await server.api(base(), { token: 'sa_00000000000000000000000000000000_' + 'A'.repeat(43) }), 401);
    assert.equal(await count(), before);
    // The name of the refused account is still free.
    await createAccount('lonely');
  });

  test('lists take the list query', async () => {
    for (const name of ['list-a', 'list-b', 'list-c']) await createAccount(name);
    const page = await server.api(`${base()}?search=list-&sortBy=name&sortOrder=desc&limit=2`);
    await expectStatus(page, 200);
    assert.equal(page.headers.get('x-total-count'), '3');
    assert.deepEqual(((await page.json()) as any[]).map((a) => a.metadata.name), ['list-c', 'list-b']);
  });

  test('the tokens of an organization being deleted stop working', async () => {
    const doomedOrg = await createOrg('doomed-org');
    const account = await createAccount('org-bot', {}, doomedOrg);
    assert.ok(await serviceAccountCredentials(server.service.stores.readModels)(account.status.accessToken));
    await expectStatus(await server.api(`/api/v1/organizations/${doomedOrg}`, { method: 'DELETE' }), 202);
    await expectStatus(await server.api(base(doomedOrg), { token: account.status.accessToken }), 401);
  });

  test('no token appears in any event or log line', async () => {
    assert.ok(issued.length > 10);
    const events = JSON.stringify(await server.service.stores.events.readAll({ maxCount: 100000 }), (_key, value) => (typeof value === 'bigint' ? String(value) : value));
    const logs = server.logs.join('\n');
    for (const token of issued) {
      const secret = token.slice('sa_'.length + 32 + 1);
      assert.ok(!events.includes(secret), 'a token is in the event log');
      assert.ok(!logs.includes(secret), 'a token is in the log');
    }
    assert.ok(events.includes('tokenSha256'));
  });
});

describe('SERVICE_ACCOUNT_TOKEN_TTL_DAYS', () => {
  test('is validated, defaults to 90, and sets the expiry of new and rotated tokens', async () => {
    assert.equal(loadConfig({}).SERVICE_ACCOUNT_TOKEN_TTL_DAYS, 90);
    for (const value of ['0', '3651', '1.5', 'soon']) {
      assert.throws(() => loadConfig({ SERVICE_ACCOUNT_TOKEN_TTL_DAYS: value }), (e: unknown) => e instanceof ConfigError && /SERVICE_ACCOUNT_TOKEN_TTL_DAYS/.test(e.message));
    }
    const server = await startTestServer({ env: { SERVICE_ACCOUNT_TOKEN_TTL_DAYS: '2' } });
    try {
      const org = await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: 'ttl' }, spec: { organizationType: 'adhoc' } } });
      const orgId = ((await org.json()) as any).metadata.id;
      const start = Date.now();
      const created = await server.api(`/api/v1/organizations/${orgId}/serviceaccounts`, { method: 'POST', json: { metadata: { name: 'brief' } } });
      await expectStatus(created, 201);
      const account = (await created.json()) as any;
      const expiry = Date.parse(account.status.expiry);
      assert.ok(expiry >= start + 2 * DAY_MS - 1000 && expiry <= Date.now() + 2 * DAY_MS + 1000, account.status.expiry);
      const rotated = await server.api(`/api/v1/organizations/${orgId}/serviceaccounts/${account.metadata.id}/rotate`, { method: 'POST' });
      await expectStatus(rotated, 200);
      assert.ok(Date.parse(((await rotated.json()) as any).status.expiry) <= Date.now() + 2 * DAY_MS + 1000);
    } finally {
      await server.close();
    }
  });
});

describe('service accounts across a restart', () => {
  test('the read models rebuilt from the log accept the current token only, with the same groups', async () => {
    const dataDir = tempDir();
    const first = await startTestServer({ dataDir: dataDir.path });
    let second: TestServer | undefined;
    try {
      const org = ((await (await first.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: 'restart' }, spec: { organizationType: 'adhoc' } } })).json()) as any).metadata.id;
      const group = ((await (await first.api(`/api/v1/organizations/${org}/groups`, { method: 'POST', json: { metadata: { name: 'admins' }, spec: { roleIDs: ['administrator'] } } })).json()) as any).metadata.id;
      const base = `/api/v1/organizations/${org}/serviceaccounts`;
      const account = (await (await first.api(base, { method: 'POST', json: { metadata: { name: 'survivor' }, spec: { groupIDs: [group] } } })).json()) as any;
      const rotated = (await (await first.api(`${base}/${account.metadata.id}/rotate`, { method: 'POST' })).json()) as any;
      await first.stop();

      second = await startTestServer({ dataDir: dataDir.path });
      await expectStatus(await second.api(base, { token: account.status.accessToken }), 401);
      const list = await second.api(base, { token: rotated.status.accessToken });
      await expectStatus(list, 200);
      const [read] = (await list.json()) as any[];
      assert.deepEqual(read.spec.groupIDs, [group]);
      assert.equal(read.status.expiry, rotated.status.expiry);
    } finally {
      await (second ?? first).stop().catch(() => {});
      dataDir.remove();
    }
  });
});
