import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { v4 as uuidv4 } from 'uuid';
import { testEvent } from '../support/events.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createOrganization } from '../support/tenants.js';

async function expectError(response: Response, status: number, error: string, description?: RegExp) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  const body = (await response.json()) as { error: string; error_description: string };
  assert.equal(body.error, error);
  assert.equal(typeof body.error_description, 'string');
  if (description) assert.match(body.error_description, description);
  return body;
}

const groupBody = (name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  metadata: { name, ...metadata },
  spec: { roleIDs: ['user'], ...spec },
});

describe('groups API', () => {
  let server: TestServer;
  let org: string;
  let otherOrg: string;

  const createOrg = (name: string) => createOrganization(server, name);
  const groups = (organizationId = org) => `/api/v1/organizations/${organizationId}/groups`;
  const createGroup = async (body: unknown, organizationId = org) => {
    const response = await server.api(groups(organizationId), { method: 'POST', json: body });
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as any;
  };
  const createUser = async (subject: string, organizationId = org) => {
    const response = await server.api(`/api/v1/organizations/${organizationId}/users`, {
      method: 'POST',
      json: { metadata: { name: subject.split('@')[0] }, spec: { subject, state: 'active', groupIDs: [] } },
    });
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as any;
  };
  const getUser = async (id: string) => (await (await server.api(`/api/v1/organizations/${org}/users/${id}`)).json()) as any;
  const list = async (query: string) => {
    const response = await server.api(`${groups()}?${query}`);
    assert.equal(response.status, 200, await response.clone().text());
    return { items: (await response.json()) as any[], total: Number(response.headers.get('x-total-count')) };
  };

  before(async () => {
    server = await startTestServer();
    org = await createOrg('groups-org');
    otherOrg = await createOrg('groups-other-org');
  });
  after(async () => server.close());

  test('POST answers 201 with the group; GET and the list see it; the event carries its whole state', async () => {
    const created = await createGroup(groupBody('developers', {}, { description: 'Devs', tags: [{ name: 'team', value: 'a' }] }));
    assert.equal(created.metadata.name, 'developers');
    assert.equal(created.metadata.description, 'Devs');
    assert.deepEqual(created.metadata.tags, [{ name: 'team', value: 'a' }]);
    assert.equal(created.metadata.organizationId, org);
    assert.equal(created.metadata.createdBy, 'platform-administrator');
    assert.equal(created.metadata.provisioningStatus, 'provisioned');
    assert.match(created.metadata.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(created.spec, { roleIDs: ['user'], userIDs: [], serviceAccountIDs: [] });
    assert.ok(!('_id' in created) && !('_position' in created));

    const read = await server.api(`${groups()}/${created.metadata.id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(await read.json(), created);
    assert.ok((await list('')).items.some((g) => g.metadata.id === created.metadata.id));

    const events = await server.service.stores.events.readStream(`group-${created.metadata.id}`);
    // The group's details, then one event per role and member: no event carries a list.
    assert.deepEqual(events.map((e) => e.type), ['group.created', 'group.role.added']);
    assert.deepEqual(events[0]!.data, {
      groupId: created.metadata.id,
      organizationId: org,
      name: 'developers',
      description: 'Devs',
      tags: [{ name: 'team', value: 'a' }],
    });
    assert.deepEqual(events[1]!.data, { groupId: created.metadata.id, organizationId: org, roleId: 'user' });
    // Created with its members in one command: not modified since.
    assert.equal(created.metadata.modifiedTime, undefined);
  });

  test('PUT answers 200 with the updated group; the change shows on GET; a rename frees the old name', async () => {
    const created = await createGroup(groupBody('testers'));
    const id = created.metadata.id;
    const response = await server.api(`${groups()}/${id}`, { method: 'PUT', json: groupBody('qa', { roleIDs: ['reader', 'user'] }) });
    assert.equal(response.status, 200);
    const answered = (await response.json()) as any;
    const read = (await (await server.api(`${groups()}/${id}`)).json()) as any;
    assert.deepEqual(answered, read, 'the answer is the group as GET shows it');
    assert.equal(read.metadata.name, 'qa');
    // Lists come back in the order their members joined.
    assert.deepEqual(read.spec.roleIDs, ['user', 'reader']);
    assert.equal(read.metadata.modifiedBy, 'platform-administrator');
    assert.equal(read.metadata.creationTime, created.metadata.creationTime);
    await createGroup(groupBody('testers'));
    const events = await server.service.stores.events.readStream(`group-${id}`);
    // The PUT appends its difference: the new details, the role added.
    assert.deepEqual(events.map((e) => e.type), ['group.created', 'group.role.added', 'group.updated', 'group.role.added']);
    assert.deepEqual(events[2]!.data, { groupId: id, organizationId: org, name: 'qa', tags: [] });
    assert.deepEqual(events[3]!.data, { groupId: id, organizationId: org, roleId: 'reader' });
  });

  test('names are unique in an organization, whatever their case, but may repeat across organizations', async () => {
    await createGroup(groupBody('operators'));
    await expectError(await server.api(groups(), { method: 'POST', json: groupBody('Operators') }), 409, 'conflict', /already taken/);
    await createGroup(groupBody('operators'), otherOrg);
    const other = await createGroup(groupBody('ops-2'));
    await expectError(await server.api(`${groups()}/${other.metadata.id}`, { method: 'PUT', json: groupBody('OPERATORS') }), 409, 'conflict');
    assert.equal((await list('filterBy=name==ops-2')).total, 1);
  });

  test('DELETE answers 200 without a body; the group is gone, its name free, and the deletion in the log', async () => {
    const created = await createGroup(groupBody('temporary'));
    const id = created.metadata.id;
    const response = await server.api(`${groups()}/${id}`, { method: 'DELETE' });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '');
    await expectError(await server.api(`${groups()}/${id}`), 404, 'not_found');
    await expectError(await server.api(`${groups()}/${id}`, { method: 'DELETE' }), 404, 'not_found');
    await expectError(await server.api(`${groups()}/${id}`, { method: 'PUT', json: groupBody('temporary') }), 404, 'not_found');
    assert.ok(!(await list('')).items.some((g) => g.metadata.id === id));
    const events = await server.service.stores.events.readStream(`group-${id}`);
    assert.deepEqual(events.map((e) => e.type), ['group.created', 'group.role.added', 'group.deleted']);
    assert.deepEqual(events[2]!.data, { groupId: id, organizationId: org, name: 'temporary' });
    await createGroup(groupBody('temporary'));
  });

  test('only built-in roles may be granted, never platform-administrator', async () => {
    await expectError(await server.api(groups(), { method: 'POST', json: groupBody('root', { roleIDs: ['platform-administrator'] }) }), 403, 'forbidden', /platform-administrator/);
    await expectError(await server.api(groups(), { method: 'POST', json: groupBody('root', { roleIDs: ['superuser'] }) }), 400, 'invalid_request', /superuser/);
    const created = await createGroup(groupBody('mortals'));
    await expectError(
      await server.api(`${groups()}/${created.metadata.id}`, { method: 'PUT', json: groupBody('mortals', { roleIDs: ['user', 'platform-administrator'] }) }),
      403,
      'forbidden',
    );
    assert.deepEqual(((await (await server.api(`${groups()}/${created.metadata.id}`)).json()) as any).spec.roleIDs, ['user']);
    assert.ok(!(await list('')).items.some((g) => g.metadata.name === 'root'));
  });

  test('members must be users and service accounts of the same organization', async () => {
    const foreignUser = await createUser('stranger@example.com', otherOrg);
    const unknown = uuidv4();
    await expectError(await server.api(groups(), { method: 'POST', json: groupBody('g1', { userIDs: [foreignUser.metadata.id] }) }), 400, 'invalid_request', new RegExp(foreignUser.metadata.id));
    await expectError(await server.api(groups(), { method: 'POST', json: groupBody('g1', { userIDs: [unknown] }) }), 400, 'invalid_request', new RegExp(unknown));

    // Service accounts are another aggregate: their streams are written here as their commands would (valid events: they are validated on read).
    const store = server.service.stores.events;
    const account = (serviceAccountId: string, organizationId: string) => ({
      serviceAccountId,
      organizationId,
      name: `sa-${serviceAccountId.slice(0, 8)}`,
      tags: [],
      tokenSha256: '0'.repeat(64),
      expiry: '2030-01-01T00:00:00.000Z',
    });
    const [own, foreign, gone] = [uuidv4(), uuidv4(), uuidv4()];
    await store.appendToStream(`serviceaccount-${own}`, [testEvent('serviceaccount.created', account(own, org))], { expectedRevision: 'no_stream' });
    await store.appendToStream(`serviceaccount-${foreign}`, [testEvent('serviceaccount.created', account(foreign, otherOrg))], { expectedRevision: 'no_stream' });
    await store.appendToStream(
      `serviceaccount-${gone}`,
      [testEvent('serviceaccount.created', account(gone, org)), testEvent('serviceaccount.deleted', { serviceAccountId: gone, organizationId: org, name: account(gone, org).name })],
      { expectedRevision: 'no_stream' },
    );
    await expectError(await server.api(groups(), { method: 'POST', json: groupBody('g1', { serviceAccountIDs: [foreign] }) }), 400, 'invalid_request', new RegExp(foreign));
    await expectError(await server.api(groups(), { method: 'POST', json: groupBody('g1', { serviceAccountIDs: [gone] }) }), 400, 'invalid_request', new RegExp(gone));
    await expectError(await server.api(groups(), { method: 'POST', json: groupBody('g1', { serviceAccountIDs: [uuidv4()] }) }), 400, 'invalid_request', /service account/);
    const created = await createGroup(groupBody('g1', { serviceAccountIDs: [own] }));
    assert.deepEqual(created.spec.serviceAccountIDs, [own]);
    // Nothing half-written: the failed attempts left no group and no name behind.
    assert.equal((await list('filterBy=name==g1')).total, 1);
  });

  test('membership: a group listing a user shows in the user; updating or deleting the group takes it away', async () => {
    const ada = await createUser('ada@example.com');
    const bob = await createUser('bob@example.com');
    const group = await createGroup(groupBody('readers', { roleIDs: ['reader'], userIDs: [ada.metadata.id, bob.metadata.id] }));
    assert.deepEqual(group.spec.userIDs, [ada.metadata.id, bob.metadata.id]);
    assert.deepEqual((await getUser(ada.metadata.id)).spec.groupIDs, [group.metadata.id]);
    assert.deepEqual((await getUser(bob.metadata.id)).spec.groupIDs, [group.metadata.id]);

    const put = await server.api(`${groups()}/${group.metadata.id}`, { method: 'PUT', json: groupBody('readers', { roleIDs: ['reader'], userIDs: [bob.metadata.id] }) });
    assert.equal(put.status, 200);
    assert.deepEqual((await getUser(ada.metadata.id)).spec.groupIDs, []);
    assert.deepEqual((await getUser(bob.metadata.id)).spec.groupIDs, [group.metadata.id]);

    assert.equal((await server.api(`${groups()}/${group.metadata.id}`, { method: 'DELETE' })).status, 200);
    assert.deepEqual((await getUser(bob.metadata.id)).spec.groupIDs, []);
  });

  test('a group of another organization is not found, for reads and writes', async () => {
    const foreign = await createGroup(groupBody('foreign'), otherOrg);
    const path = `${groups()}/${foreign.metadata.id}`;
    await expectError(await server.api(path), 404, 'not_found');
    await expectError(await server.api(path, { method: 'PUT', json: groupBody('hijacked') }), 404, 'not_found');
    await expectError(await server.api(path, { method: 'DELETE' }), 404, 'not_found');
    const untouched = (await (await server.api(`${groups(otherOrg)}/${foreign.metadata.id}`)).json()) as any;
    assert.equal(untouched.metadata.name, 'foreign');
    assert.ok(!(await list('')).items.some((g) => g.metadata.id === foreign.metadata.id));
    await expectError(await server.api(groups(uuidv4()), { method: 'POST', json: groupBody('nowhere') }), 404, 'not_found');
  });

  test('the list filters, sorts, searches and pages, with X-Total-Count', async () => {
    const ids: string[] = [];
    for (const name of ['list-c', 'list-a', 'list-b']) {
      ids.push((await createGroup(groupBody(name, { roleIDs: name === 'list-b' ? ['administrator'] : ['reader'] }, { description: `about ${name}` }))).metadata.id);
    }
    const sorted = await list('filterBy=name=@list-&sortBy=name&sortOrder=desc');
    assert.deepEqual(sorted.items.map((g) => g.metadata.name), ['list-c', 'list-b', 'list-a']);
    assert.equal(sorted.total, 3);

    const page = await list('filterBy=name=@list-&sortBy=name&offset=1&limit=1');
    assert.deepEqual(page.items.map((g) => g.metadata.name), ['list-b']);
    assert.equal(page.total, 3);

    const admins = await list('filterBy=roleIDs==administrator');
    assert.deepEqual(admins.items.map((g) => g.metadata.name), ['list-b']);

    const searched = await list('search=ABOUT%20LIST-A');
    assert.deepEqual(searched.items.map((g) => g.metadata.name), ['list-a']);

    const both = await list('filterBy=name=@list-&filterBy=name!=list-a&sortBy=creationTime');
    assert.deepEqual(both.items.map((g) => g.metadata.name), ['list-c', 'list-b']);

    await expectError(await server.api(`${groups()}?filterBy=colour==red`), 400, 'invalid_request', /colour/);
    await expectError(await server.api(`${groups()}?sortBy=colour`), 400, 'invalid_request', /colour/);
    await expectError(await server.api(`${groups()}?limit=0`), 400, 'invalid_request', /limit/);
    await expectError(await server.api(`${groups()}?filterBy=creationTime>=yesterday`), 400, 'invalid_request', /creationTime/);
  });

  test('bad input gets a 4xx with the error body, and writes nothing', async () => {
    const before = (await list('')).total;
    const post = (json: unknown) => server.api(groups(), { method: 'POST', json });
    await expectError(await post({ metadata: { name: 'x' }, spec: {} }), 400, 'invalid_request', /roleIDs/);
    await expectError(await post({ metadata: { name: 'x' } }), 400, 'invalid_request', /spec/);
    await expectError(await post({ ...groupBody('x'), extra: 1 }), 400, 'invalid_request', /extra/);
    await expectError(await post(groupBody('x', { owner: 'me' })), 400, 'invalid_request', /owner/);
    await expectError(await post(groupBody('Not A Label!')), 400, 'invalid_request', /metadata\.name/);
    await expectError(await post(groupBody('x', { roleIDs: 'user' })), 400, 'invalid_request', /roleIDs/);
    await expectError(await post(groupBody('x', { userIDs: [42] })), 400, 'invalid_request', /userIDs/);
    await expectError(await post([]), 400, 'invalid_request');
    await expectError(await server.api(`${groups()}/${'x'.repeat(200)}`), 400, 'invalid_request', /groupid/);
    await expectError(await server.api(`${groups()}/${uuidv4()}`), 404, 'not_found');
    assert.equal((await list('')).total, before);
  });

  test('the OpenAPI document describes the group endpoints', async () => {
    const openapi = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as any;
    const path = openapi.paths['/api/v1/organizations/{organizationID}/groups/{groupid}'];
    assert.ok(path.get && path.put && path.delete);
    assert.ok(openapi.paths['/api/v1/organizations/{organizationID}/groups'].post.responses['201']);
    assert.ok(openapi.components.schemas.groupRead && openapi.components.schemas.groupWrite);
  });
});
