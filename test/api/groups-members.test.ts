import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { createOrganization } from '../support/tenants.js';

/**
 * Group membership as events per member, through a real server: the admin
 * API's shape is unchanged (PUT with whole lists), the log holds one event per
 * member joined or left, and every reader (the groups, users and service
 * accounts read models, access control) follows those events.
 */
describe('groups: membership as events per member', () => {
  let server: TestServer;
  let org: string;

  const groups = () => `/api/v1/organizations/${org}/groups`;
  const json = async (response: Response, status = 200) => {
    assert.equal(response.status, status, await response.clone().text());
    return response.status === 200 && response.headers.get('content-length') === '0' ? undefined : ((await response.json()) as any);
  };
  const createUser = async (subject: string) =>
    (await json(await server.api(`/api/v1/organizations/${org}/users`, { method: 'POST', json: { metadata: { name: subject.split('@')[0] }, spec: { subject, state: 'active', groupIDs: [] } } }), 201)).metadata.id as string;
  const getUser = async (id: string) => json(await server.api(`/api/v1/organizations/${org}/users/${id}`));
  const getGroup = async (id: string) => json(await server.api(`${groups()}/${id}`));
  const putGroup = async (id: string, spec: Record<string, unknown>, name = 'team') => {
    const response = await server.api(`${groups()}/${id}`, { method: 'PUT', json: { metadata: { name }, spec } });
    assert.equal(response.status, 200, await response.clone().text());
  };
  const groupEvents = async (id: string) => server.service.stores.events.readStream(`group-${id}`);
  /** No group event carries a list of ids (tags aside, which are the group's own details). */
  const assertNoLists = (events: readonly { type: string; data: unknown }[]) => {
    for (const event of events) {
      for (const [field, value] of Object.entries(event.data as object)) {
        assert.ok(!Array.isArray(value) || field === 'tags', `${event.type} carries the list ${field}`);
      }
    }
  };

  before(async () => {
    server = await startTestServer();
    org = await createOrganization(server, 'members-org');
  });
  after(async () => server.close());

  test("a PUT with whole lists appends one event per member changed; users' groupIDs follow", async () => {
    const [ada, bob, cyd] = [await createUser('ada@example.com'), await createUser('bob@example.com'), await createUser('cyd@example.com')];
    const group = (await json(await server.api(groups(), { method: 'POST', json: { metadata: { name: 'team' }, spec: { roleIDs: ['reader'], userIDs: [ada, bob] } } }), 201)) as any;
    const id = group.metadata.id as string;
    assert.deepEqual(group.spec, { roleIDs: ['reader'], userIDs: [ada, bob], serviceAccountIDs: [] });

    await putGroup(id, { roleIDs: ['reader', 'user'], userIDs: [bob, cyd] });
    const events = await groupEvents(id);
    assert.deepEqual(
      events.map((e) => [e.type, (e.data as any).userId ?? (e.data as any).roleId]),
      [
        ['group.created', undefined],
        ['group.role.added', 'reader'],
        ['group.user.added', ada],
        ['group.user.added', bob],
        ['group.role.added', 'user'],
        ['group.user.removed', ada],
        ['group.user.added', cyd],
      ],
    );
    assertNoLists(events);
    // The same lists again, in another order: nothing to record.
    await putGroup(id, { roleIDs: ['user', 'reader'], userIDs: [cyd, bob, cyd] });
    assert.equal((await groupEvents(id)).length, events.length);

    const read = await getGroup(id);
    assert.deepEqual([...read.spec.userIDs].sort(), [bob, cyd].sort());
    assert.deepEqual([...read.spec.roleIDs].sort(), ['reader', 'user']);
    assert.deepEqual((await getUser(ada)).spec.groupIDs, []);
    assert.deepEqual((await getUser(bob)).spec.groupIDs, [id]);
    assert.deepEqual((await getUser(cyd)).spec.groupIDs, [id]);
    const listed = await json(await server.api(`/api/v1/organizations/${org}/users?filterBy=groupIDs==${id}`));
    assert.deepEqual(listed.map((u: any) => u.metadata.id).sort(), [bob, cyd].sort());
  });

  test('a deleted user leaves its groups with a group.user.removed each', async () => {
    const dee = await createUser('dee@example.com');
    const eve = await createUser('eve@example.com');
    const ids: string[] = [];
    for (const name of ['one', 'two']) {
      ids.push((await json(await server.api(groups(), { method: 'POST', json: { metadata: { name }, spec: { roleIDs: ['reader'], userIDs: [dee, eve] } } }), 201)).metadata.id);
    }
    assert.equal((await server.api(`/api/v1/organizations/${org}/users/${dee}`, { method: 'DELETE' })).status, 200);
    for (const id of ids) {
      const last = (await groupEvents(id)).at(-1)!;
      assert.equal(last.type, 'group.user.removed');
      assert.deepEqual(last.data, { groupId: id, organizationId: org, userId: dee });
      assert.deepEqual((await getGroup(id)).spec.userIDs, [eve]);
    }
    assert.deepEqual([...(await getUser(eve)).spec.groupIDs].sort(), [...ids].sort());
  });

  test("service accounts: their groupIDs and their access follow the group's per-member events", async () => {
    const created = await json(await server.api(`/api/v1/organizations/${org}/serviceaccounts`, { method: 'POST', json: { metadata: { name: 'robot' } } }), 201);
    const sa = created.metadata.id as string;
    const token = created.status.accessToken as string;
    const group = (await json(await server.api(groups(), { method: 'POST', json: { metadata: { name: 'robots' }, spec: { roleIDs: ['reader'] } } }), 201)).metadata.id as string;
    // In no group: no roles, no access.
    assert.equal((await server.api(groups(), { token })).status, 403);

    await putGroup(group, { roleIDs: ['reader'], serviceAccountIDs: [sa] }, 'robots');
    const added = (await groupEvents(group)).at(-1)!;
    assert.equal(added.type, 'group.service_account.added');
    assert.deepEqual(added.data, { groupId: group, organizationId: org, serviceAccountId: sa });
    assert.deepEqual((await json(await server.api(`/api/v1/organizations/${org}/serviceaccounts/${sa}`))).spec.groupIDs, [group]);
    assert.equal((await server.api(groups(), { token })).status, 200);

    await putGroup(group, { roleIDs: ['reader'], serviceAccountIDs: [] }, 'robots');
    assert.equal((await groupEvents(group)).at(-1)!.type, 'group.service_account.removed');
    assert.deepEqual((await json(await server.api(`/api/v1/organizations/${org}/serviceaccounts/${sa}`))).spec.groupIDs, []);
    assert.equal((await server.api(groups(), { token })).status, 403);
  });

  test('members added one at a time: every event stays small, however large the group grows', async () => {
    const group = (await json(await server.api(groups(), { method: 'POST', json: { metadata: { name: 'growing' }, spec: { roleIDs: ['reader'] } } }), 201)).metadata.id as string;
    const members: string[] = [];
    for (let i = 0; i < 60; i++) {
      members.push(await createUser(`member-${i}@example.com`));
      await putGroup(group, { roleIDs: ['reader'], userIDs: members }, 'growing');
    }
    const events = await groupEvents(group);
    assert.equal(events.length, 2 + 60);
    assertNoLists(events);
    const sizes = events.map((e) => JSON.stringify(e.data).length);
    assert.ok(Math.max(...sizes) <= 200, `largest event data: ${Math.max(...sizes)} bytes`);
    // The last member's event is no larger than the first one's.
    assert.equal(sizes.at(-1), sizes[2]);
    assert.deepEqual([...(await getGroup(group)).spec.userIDs].sort(), [...members].sort());
  });

  test('a project may list a group whose newest events are member events, and not one that is deleted', async () => {
    const group = (await json(await server.api(groups(), { method: 'POST', json: { metadata: { name: 'proj-team' }, spec: { roleIDs: ['reader'] } } }), 201)).metadata.id as string;
    await putGroup(group, { roleIDs: ['reader', 'user'] }, 'proj-team');
    assert.equal((await groupEvents(group)).at(-1)!.type, 'group.role.added');
    const project = await server.api(`/api/v1/organizations/${org}/projects`, { method: 'POST', json: { metadata: { name: 'apollo' }, spec: { groupIDs: [group] } } });
    assert.equal(project.status, 202, await project.clone().text());
    assert.equal((await server.api(`${groups()}/${group}`, { method: 'DELETE' })).status, 200);
    const refused = await server.api(`/api/v1/organizations/${org}/projects`, { method: 'POST', json: { metadata: { name: 'gemini' }, spec: { groupIDs: [group] } } });
    assert.equal(refused.status, 400, await refused.clone().text());
  });
});
