import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { createOrganization } from '../support/tenants.js';

/** Filter expressions and cursor pages on the users of an organization, through HTTP. */
describe('users: filter expressions and cursor pages', () => {
  let server: TestServer;
  let org: string;
  let otherOrg: string;

  const users = (organizationId = org) => `/api/v1/organizations/${organizationId}/users`;
  const search = (json: unknown, organizationId = org) => server.api(`${users(organizationId)}/search`, { method: 'POST', json });
  const page = async (json: unknown, organizationId = org) => {
    const response = await search(json, organizationId);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as { items: any[]; response_metadata: { prev_cursor: string | null; next_cursor: string | null; total: number } };
  };
  const badRequest = async (response: Response, description: RegExp) => {
    assert.equal(response.status, 400, await response.clone().text());
    const body = (await response.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_request');
    assert.match(body.error_description, description);
  };

  before(async () => {
    server = await startTestServer();
    org = await createOrganization(server, 'search-org');
    otherOrg = await createOrganization(server, 'search-other');
    const states = ['active', 'pending', 'suspended'];
    for (let i = 0; i < 23; i++) {
      const response = await server.api(users(), {
        method: 'POST',
        json: { metadata: { name: `user${String(i).padStart(2, '0')}`, description: i % 5 === 0 ? 'Team Lead' : 'member' }, spec: { subject: `u${i}@example.com`, state: states[i % 3], groupIDs: [] } },
      });
      assert.equal(response.status, 201, await response.clone().text());
    }
    const response = await server.api(users(otherOrg), { method: 'POST', json: { metadata: { name: 'user99' }, spec: { subject: 'other@example.com', state: 'active', groupIDs: [] } } });
    assert.equal(response.status, 201);
    await eventually(async () => (await page({})).response_metadata.total === 23);
  });
  after(async () => server.close());

  test('a search walks every matching user of the organization once, a cursor page at a time, and back', async () => {
    const expression = "state EQ 'active' OR description CONTAINS 'Lead' AND NOT state eq 'suspended'";
    const first = await page({ filter_expression: expression, limit: 4 });
    // active: i % 3 == 0 (8 users); Lead and not suspended (i % 5 == 0, i % 3 != 2): also user10.
    assert.equal(first.response_metadata.total, 9);
    assert.equal(first.response_metadata.prev_cursor, null);
    const names: string[] = [];
    let current = first;
    while (true) {
      names.push(...current.items.map((u) => u.metadata.name));
      for (const item of current.items) assert.equal(item.metadata.organizationId, org);
      if (!current.response_metadata.next_cursor) break;
      current = await page({ filter_expression: expression, limit: 4, cursor: current.response_metadata.next_cursor });
    }
    assert.deepEqual(names, ['user00', 'user03', 'user06', 'user09', 'user10', 'user12', 'user15', 'user18', 'user21']);
    const back = await page({ filter_expression: expression, limit: 4, cursor: current.response_metadata.prev_cursor });
    assert.deepEqual(back.items.map((u) => u.metadata.name), ['user10', 'user12', 'user15', 'user18']);
  });

  test('sort_by and sort_order; a cursor used with another sort is a 400', async () => {
    const desc = await page({ sort_by: 'name', sort_order: 'desc', limit: 3 });
    assert.deepEqual(desc.items.map((u) => u.metadata.name), ['user22', 'user21', 'user20']);
    await badRequest(await search({ sort_by: 'creationTime', sort_order: 'desc', limit: 3, cursor: desc.response_metadata.next_cursor }), /cursor: made for sort_by=name desc/);
    await badRequest(await search({ cursor: 'garbage!' }), /cursor: not a cursor/);
    await badRequest(await search({ sort_by: 'password' }), /sortBy: unknown field "password"/);
  });

  test('a cursor from another organization reads only this organization', async () => {
    const mine = await page({ limit: 1 });
    const other = await page({ cursor: mine.response_metadata.next_cursor, limit: 50 }, otherOrg);
    assert.deepEqual(other.items.map((u) => u.metadata.name), ['user99']);
  });

  test('a bad expression is a 400 naming the offset and what was expected; an unknown field too', async () => {
    await badRequest(await search({ filter_expression: "state EQ 'active' AND" }), /filter_expression: at offset 21: expected a condition/);
    await badRequest(await search({ filter_expression: "password EQ 'x'" }), /at offset 0: expected a filterable field \(id, name, .*subject, state, groupIDs, lastActive\), found "password"/);
    await badRequest(await search({ filter_expression: `${'('.repeat(40)}state EQ 'a'${')'.repeat(40)}` }), /nested more than 32 deep/);
    await badRequest(await search({ filter_expression: 'x'.repeat(5000) }), /body.filter_expression: must be at most 4096 characters/);
    await badRequest(await search({ filter_expression: 'state EQ 1', extra: true }), /unknown key "extra"/);
    await badRequest(await search({ limit: 0 }), /limit/);
  });

  test('GET lists take filterExpression too, with filterBy and search', async () => {
    const response = await server.api(`${users()}?filterExpression=${encodeURIComponent("name IN ['user01', 'user02', 'user04'] AND NOT state EQ 'pending'")}&filterBy=${encodeURIComponent('name!=user04')}`);
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(((await response.json()) as any[]).map((u) => u.metadata.name), ['user02']);
    assert.equal(response.headers.get('x-total-count'), '1');
    await badRequest(await server.api(`${users()}?filterExpression=${encodeURIComponent('name EQ')}`), /at offset 7: expected a literal/);
  });

  test('without a token: 401; the OpenAPI document names the filterable fields', async () => {
    const response = await fetch(`${server.baseUrl}${users()}/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(response.status, 401);
    const openapi = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as any;
    const searchOp = openapi.paths['/api/v1/organizations/{organizationID}/users/search'].post;
    assert.deepEqual(searchOp['x-filterable'], ['id', 'name', 'description', 'creationTime', 'createdBy', 'modifiedTime', 'provisioningStatus', 'healthStatus', 'organizationId', 'subject', 'state', 'groupIDs', 'lastActive']);
    assert.deepEqual(openapi.paths['/api/v1/organizations/{organizationID}/groups'].get['x-filterable'].slice(0, 2), ['id', 'name']);
  });
});
