import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { v4 as uuidv4 } from 'uuid';
import { testEvent } from '../support/events.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { createOrganization } from '../support/tenants.js';

async function expectError(response: Response, status: number, error: string, description?: RegExp) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  const body = (await response.json()) as { error: string; error_description: string };
  assert.equal(body.error, error);
  assert.equal(typeof body.error_description, 'string');
  if (description) assert.match(body.error_description, description);
  return body;
}

const userBody = (subject: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  metadata: { name: subject.split('@')[0]!.replace(/[^A-Za-z0-9]/g, '') || 'user', ...metadata },
  spec: { subject, state: 'active', groupIDs: [], ...spec },
});

describe('users API', () => {
  let server: TestServer;
  let org: string;
  let otherOrg: string;

  const createOrg = (name: string) => createOrganization(server, name);
  const users = (organizationId = org) => `/api/v1/organizations/${organizationId}/users`;
  const createUser = async (body: unknown, organizationId = org) => {
    const response = await server.api(users(organizationId), { method: 'POST', json: body });
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as any;
  };
  const getUser = async (id: string) => (await (await server.api(`${users()}/${id}`)).json()) as any;
  const createGroup = async (name: string, roleIDs: string[] = ['user'], organizationId = org) => {
    const response = await server.api(`/api/v1/organizations/${organizationId}/groups`, { method: 'POST', json: { metadata: { name }, spec: { roleIDs } } });
    assert.equal(response.status, 201, await response.clone().text());
    return ((await response.json()) as any).metadata.id as string;
  };
  const getGroup = async (id: string, organizationId = org) =>
    (await (await server.api(`/api/v1/organizations/${organizationId}/groups/${id}`)).json()) as any;
  const list = async (query: string) => {
    const response = await server.api(`${users()}?${query}`);
    assert.equal(response.status, 200, await response.clone().text());
    return { items: (await response.json()) as any[], total: Number(response.headers.get('x-total-count')) };
  };

  before(async () => {
    server = await startTestServer();
    org = await createOrg('users-org');
    otherOrg = await createOrg('users-other-org');
  });
  after(async () => server.close());

  test('POST answers 201 with the user; GET and the list see it; the event is in the log', async () => {
    const created = await createUser(userBody('Ada@Example.com', { state: 'pending' }, { description: 'Ada L.' }));
    assert.equal(created.metadata.organizationId, org);
    assert.equal(created.metadata.description, 'Ada L.');
    assert.equal(created.metadata.createdBy, 'platform-administrator');
    assert.deepEqual(created.spec, { subject: 'Ada@Example.com', state: 'pending', groupIDs: [] });
    assert.deepEqual(created.status, {});
    assert.ok(!('_id' in created) && !('subjectKey' in created) && !('_position' in created));

    const read = await server.api(`${users()}/${created.metadata.id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(await read.json(), created);
    assert.ok((await list('')).items.some((u) => u.metadata.id === created.metadata.id));

    const events = await server.service.stores.events.readStream(`user-${created.metadata.id}`);
    assert.deepEqual(events.map((e) => e.type), ['user.created']);
    assert.deepEqual(events[0]!.data, {
      userId: created.metadata.id,
      organizationId: org,
      name: 'Ada',
      description: 'Ada L.',
      tags: [],
      subject: 'Ada@Example.com',
      state: 'pending',
    });

    // The organizations query finds the user's organization by email, in any case.
    const orgs = (await (await server.api('/api/v1/organizations?email=ada@example.COM')).json()) as any[];
    assert.deepEqual(orgs.map((o) => o.metadata.id), [org]);
  });

  test('PUT answers 200 with the user; a changed subject frees the old one', async () => {
    const created = await createUser(userBody('carol@example.com'));
    const id = created.metadata.id;
    const response = await server.api(`${users()}/${id}`, { method: 'PUT', json: userBody('carol@example.org', { state: 'suspended' }) });
    assert.equal(response.status, 200);
    const updated = (await response.json()) as any;
    assert.deepEqual(updated.spec, { subject: 'carol@example.org', state: 'suspended', groupIDs: [] });
    assert.equal(updated.metadata.modifiedBy, 'platform-administrator');
    assert.equal(updated.metadata.creationTime, created.metadata.creationTime);
    assert.deepEqual(await getUser(id), updated);
    await createUser(userBody('carol@example.com'));
    const events = await server.service.stores.events.readStream(`user-${id}`);
    assert.deepEqual(events.map((e) => e.type), ['user.created', 'user.updated']);
    // Only the case changes: the subject stays the user's own.
    const recased = await server.api(`${users()}/${id}`, { method: 'PUT', json: userBody('Carol@Example.org', { state: 'suspended' }) });
    assert.equal(recased.status, 200);
    assert.equal(((await recased.json()) as any).spec.subject, 'Carol@Example.org');
  });

  test('subjects are unique in an organization, whatever their case, but may repeat across organizations', async () => {
    const dave = await createUser(userBody('dave@example.com'));
    await expectError(await server.api(users(), { method: 'POST', json: userBody('DAVE@example.com') }), 409, 'conflict', /already taken/);
    await createUser(userBody('dave@example.com'), otherOrg);
    const erin = await createUser(userBody('erin@example.com'));
    await expectError(await server.api(`${users()}/${erin.metadata.id}`, { method: 'PUT', json: userBody('Dave@Example.com') }), 409, 'conflict');
    assert.equal((await getUser(erin.metadata.id)).spec.subject, 'erin@example.com');
    assert.equal((await list('filterBy=subject=@dave@')).total, 1);
    assert.equal((await getUser(dave.metadata.id)).spec.subject, 'dave@example.com');
  });

  test('membership: groupIDs on POST and PUT are written to the groups, and read back from them', async () => {
    const [g1, g2, g3] = [await createGroup('m-one'), await createGroup('m-two'), await createGroup('m-three')];
    const frank = await createUser(userBody('frank@example.com', { groupIDs: [g1, g2] }));
    assert.deepEqual([...frank.spec.groupIDs].sort(), [g1, g2].sort());
    assert.deepEqual((await getGroup(g1)).spec.userIDs, [frank.metadata.id]);

    const put = await server.api(`${users()}/${frank.metadata.id}`, { method: 'PUT', json: userBody('frank@example.com', { groupIDs: [g2, g3] }) });
    assert.equal(put.status, 200);
    assert.deepEqual([...((await put.json()) as any).spec.groupIDs].sort(), [g2, g3].sort());
    assert.deepEqual((await getGroup(g1)).spec.userIDs, []);
    assert.deepEqual((await getGroup(g2)).spec.userIDs, [frank.metadata.id]);
    assert.deepEqual((await getGroup(g3)).spec.userIDs, [frank.metadata.id]);
    const g1Events = await server.service.stores.events.readStream(`group-${g1}`);
    assert.deepEqual(g1Events.map((e) => e.type), ['group.created', 'group.role.added', 'group.user.added', 'group.user.removed']);
    assert.deepEqual(g1Events[3]!.data, { groupId: g1, organizationId: org, userId: frank.metadata.id });

    // Without groupIDs a PUT leaves the memberships alone.
    const { groupIDs: _omitted, ...spec } = userBody('frank@example.com', { state: 'suspended' }).spec;
    const bare = await server.api(`${users()}/${frank.metadata.id}`, { method: 'PUT', json: { metadata: { name: 'frank' }, spec } });
    assert.equal(bare.status, 200);
    assert.deepEqual([...((await bare.json()) as any).spec.groupIDs].sort(), [g2, g3].sort());

    // Listed by group.
    assert.deepEqual((await list(`filterBy=groupIDs==${g3}`)).items.map((u) => u.metadata.id), [frank.metadata.id]);
  });

  test('groupIDs must be groups of the same organization; a bad one writes nothing', async () => {
    const foreign = await createGroup('foreign', ['user'], otherOrg);
    await expectError(await server.api(users(), { method: 'POST', json: userBody('gina@example.com', { groupIDs: [foreign] }) }), 400, 'invalid_request', new RegExp(foreign));
    const unknown = uuidv4();
    await expectError(await server.api(users(), { method: 'POST', json: userBody('gina@example.com', { groupIDs: [unknown] }) }), 400, 'invalid_request', new RegExp(unknown));
    assert.equal((await list('filterBy=subject==gina@example.com')).total, 0);
    // The subject was not left reserved.
    const gina = await createUser(userBody('gina@example.com'));
    await expectError(
      await server.api(`${users()}/${gina.metadata.id}`, { method: 'PUT', json: userBody('gina@example.net', { groupIDs: [foreign] }) }),
      400,
      'invalid_request',
      new RegExp(foreign),
    );
    assert.equal((await getUser(gina.metadata.id)).spec.subject, 'gina@example.com');
    assert.deepEqual((await getGroup(foreign, otherOrg)).spec.userIDs, []);
  });

  test('DELETE answers 200; the user leaves every group, its subject is free, and the log has it', async () => {
    const [g1, g2] = [await createGroup('d-one'), await createGroup('d-two')];
    const hank = await createUser(userBody('hank@example.com', { groupIDs: [g1, g2] }));
    const other = await createUser(userBody('ivy@example.com', { groupIDs: [g1] }));
    const response = await server.api(`${users()}/${hank.metadata.id}`, { method: 'DELETE' });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '');
    assert.deepEqual((await getGroup(g1)).spec.userIDs, [other.metadata.id]);
    assert.deepEqual((await getGroup(g2)).spec.userIDs, []);
    await expectError(await server.api(`${users()}/${hank.metadata.id}`), 404, 'not_found');
    await expectError(await server.api(`${users()}/${hank.metadata.id}`, { method: 'DELETE' }), 404, 'not_found');
    await expectError(await server.api(`${users()}/${hank.metadata.id}`, { method: 'PUT', json: userBody('hank@example.com') }), 404, 'not_found');
    const events = await server.service.stores.events.readStream(`user-${hank.metadata.id}`);
    assert.deepEqual(events.map((e) => e.type), ['user.created', 'user.deleted']);
    assert.deepEqual(events[1]!.data, { userId: hank.metadata.id, organizationId: org, subject: 'hank@example.com' });
    await createUser(userBody('HANK@example.com'));
    // A deleted user can no longer be added to a group.
    await expectError(
      await server.api(`/api/v1/organizations/${org}/groups/${g2}`, { method: 'PUT', json: { metadata: { name: 'd-two' }, spec: { roleIDs: ['user'], userIDs: [hank.metadata.id] } } }),
      400,
      'invalid_request',
      new RegExp(hank.metadata.id),
    );
  });

  test('deleting a group takes it out of its users', async () => {
    const group = await createGroup('short-lived');
    const jan = await createUser(userBody('jan@example.com', { groupIDs: [group] }));
    assert.deepEqual(jan.spec.groupIDs, [group]);
    assert.equal((await server.api(`/api/v1/organizations/${org}/groups/${group}`, { method: 'DELETE' })).status, 200);
    assert.deepEqual((await getUser(jan.metadata.id)).spec.groupIDs, []);
  });

  test('a user of another organization is not found, for reads and writes', async () => {
    const foreign = await createUser(userBody('kim@example.com'), otherOrg);
    const path = `${users()}/${foreign.metadata.id}`;
    await expectError(await server.api(path), 404, 'not_found');
    await expectError(await server.api(path, { method: 'PUT', json: userBody('kim@example.com') }), 404, 'not_found');
    await expectError(await server.api(path, { method: 'DELETE' }), 404, 'not_found');
    assert.equal((await (await server.api(`${users(otherOrg)}/${foreign.metadata.id}`)).json() as any).spec.subject, 'kim@example.com');
    assert.ok(!(await list('')).items.some((u) => u.metadata.id === foreign.metadata.id));
    // Nor can it join this organization's groups.
    const group = await createGroup('locals');
    await expectError(
      await server.api(`/api/v1/organizations/${org}/groups/${group}`, { method: 'PUT', json: { metadata: { name: 'locals' }, spec: { roleIDs: ['user'], userIDs: [foreign.metadata.id] } } }),
      400,
      'invalid_request',
      new RegExp(foreign.metadata.id),
    );
    await expectError(await server.api(users(uuidv4()), { method: 'POST', json: userBody('nobody@example.com') }), 404, 'not_found');
  });

  test('activity recorded for a user shows as status.lastActive, and lists filter on it', async () => {
    const lee = await createUser(userBody('lee@example.com'));
    await server.service.stores.events.appendToStream(
      `user-${lee.metadata.id}`,
      [testEvent('user.activity.recorded', { userId: lee.metadata.id, organizationId: org, at: '2030-01-02T03:04:05.000Z' })],
      { expectedRevision: 0 },
    );
    await eventually(async () => (await getUser(lee.metadata.id)).status.lastActive === '2030-01-02T03:04:05.000Z');
    const recent = await list('filterBy=lastActive>=2030-01-01');
    assert.deepEqual(recent.items.map((u) => u.metadata.id), [lee.metadata.id]);
    await expectError(await server.api(`${users()}?filterBy=lastActive>=soon`), 400, 'invalid_request', /lastActive/);
  });

  test('the list filters, sorts, searches and pages, with X-Total-Count', async () => {
    for (const [subject, state] of [['p-zed@list.example', 'pending'], ['p-amy@list.example', 'suspended'], ['p-max@list.example', 'pending']] as const) {
      await createUser(userBody(subject, { state }));
    }
    const sorted = await list('filterBy=subject=@@list.example&sortBy=subject&sortOrder=desc');
    assert.deepEqual(sorted.items.map((u) => u.spec.subject), ['p-zed@list.example', 'p-max@list.example', 'p-amy@list.example']);
    assert.equal(sorted.total, 3);
    const page = await list('filterBy=subject=@@list.example&sortBy=subject&offset=2&limit=1');
    assert.deepEqual(page.items.map((u) => u.spec.subject), ['p-zed@list.example']);
    assert.equal(page.total, 3);
    const pending = await list('filterBy=subject=@@list.example&filterBy=state==pending&sortBy=subject');
    assert.deepEqual(pending.items.map((u) => u.spec.subject), ['p-max@list.example', 'p-zed@list.example']);
    const searched = await list('search=P-AMY');
    assert.deepEqual(searched.items.map((u) => u.spec.subject), ['p-amy@list.example']);
    await expectError(await server.api(`${users()}?filterBy=colour==red`), 400, 'invalid_request', /colour/);
    await expectError(await server.api(`${users()}?sortBy=password`), 400, 'invalid_request', /password/);
    await expectError(await server.api(`${users()}?offset=-1`), 400, 'invalid_request', /offset/);
  });

  test('bad input gets a 4xx with the error body, and writes nothing', async () => {
    const before = (await list('')).total;
    const post = (json: unknown) => server.api(users(), { method: 'POST', json });
    await expectError(await post(userBody('x@example.com', { state: 'banned' })), 400, 'invalid_request', /state/);
    await expectError(await post({ metadata: { name: 'x' }, spec: { state: 'active' } }), 400, 'invalid_request', /subject/);
    await expectError(await post(userBody('')), 400, 'invalid_request', /subject/);
    await expectError(await post(userBody(' x@example.com')), 400, 'invalid_request', /subject/);
    await expectError(await post(userBody('x@example.com', { password: 'secret' })), 400, 'invalid_request', /password/);
    await expectError(await post({ ...userBody('x@example.com'), status: {} }), 400, 'invalid_request', /status/);
    await expectError(await post(userBody('x@example.com', { groupIDs: 'all' })), 400, 'invalid_request', /groupIDs/);
    await expectError(await post(userBody('x@example.com', {}, { name: 'Not A Label!' })), 400, 'invalid_request', /metadata\.name/);
    await expectError(await post(null), 400, 'invalid_request');
    await expectError(await server.api(`${users()}/${'x'.repeat(200)}`), 400, 'invalid_request', /userID/);
    await expectError(await server.api(`${users()}/${uuidv4()}`), 404, 'not_found');
    assert.equal((await list('')).total, before);
  });
});
