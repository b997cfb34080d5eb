import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationQueries } from '../../src/projections/applications/queries.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

async function expectError(response: Response, status: number, error: string, description?: RegExp) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  const body = (await response.json()) as { error: string; error_description: string };
  assert.equal(body.error, error);
  assert.equal(typeof body.error_description, 'string');
  if (description) assert.match(body.error_description, description);
  return body;
}

/** The stored parts of events, as text (positions are bigints, which JSON does not take). */
const logText = (events: ReadonlyArray<{ streamName: string; type: string; data: unknown; metadata: unknown }>) =>
  JSON.stringify(events.map(({ streamName, type, data, metadata }) => ({ streamName, type, data, metadata })));

const appBody = (name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  metadata: { name, ...metadata },
  spec: { redirectURIs: ['https://app.example.com/callback'], grantTypes: ['authorization_code', 'refresh_token'], ...spec },
});

describe('applications API', () => {
  let server: TestServer;
  let queries: ApplicationQueries;
  let orgA: string;
  let orgB: string;
  let groupA: string;
  let groupB: string;
  /** An organization administrator of org A: a service account in a group with the administrator role. */
  let adminToken: string;
  let readerToken: string;
  /** Every secret handed out, to look for afterwards where none may be. */
  const secrets: string[] = [];

  const apps = (org: string) => `/api/v1/organizations/${org}/applications`;
  const post = async (path: string, json: unknown, token?: string) => {
    const response = await server.api(path, { method: 'POST', json, ...(token && { token }) });
    const text = await response.text();
    assert.ok(response.status < 300, `POST ${path}: ${response.status} ${text}`);
    return JSON.parse(text);
  };
  const create = async (org: string, body: unknown, token?: string) => {
    const response = await server.api(apps(org), { method: 'POST', json: body, ...(token && { token }) });
    assert.equal(response.status, 201, await response.clone().text());
    const app = (await response.json()) as any;
    if (app.status.clientSecret) secrets.push(app.status.clientSecret);
    return app;
  };

  before(async () => {
    server = await startTestServer();
    queries = new ApplicationQueries(server.service.stores.readModels);
    orgA = (await post('/api/v1/organizations', { metadata: { name: 'app-org-a' }, spec: { organizationType: 'adhoc' } })).metadata.id;
    orgB = (await post('/api/v1/organizations', { metadata: { name: 'app-org-b' }, spec: { organizationType: 'adhoc' } })).metadata.id;
    groupA = (await post(`/api/v1/organizations/${orgA}/groups`, { metadata: { name: 'readers' }, spec: { roleIDs: ['reader'] } })).metadata.id;
    groupB = (await post(`/api/v1/organizations/${orgB}/groups`, { metadata: { name: 'readers' }, spec: { roleIDs: ['reader'] } })).metadata.id;
    const admins = (await post(`/api/v1/organizations/${orgA}/groups`, { metadata: { name: 'admins' }, spec: { roleIDs: ['administrator'] } })).metadata.id;
    const admin = await post(`/api/v1/organizations/${orgA}/serviceaccounts`, { metadata: { name: 'org-admin' }, spec: { groupIDs: [admins] } });
    adminToken = admin.status.accessToken;
    const reader = await post(`/api/v1/organizations/${orgA}/serviceaccounts`, { metadata: { name: 'org-reader' }, spec: { groupIDs: [groupA] } });
    readerToken = reader.status.accessToken;
  });
  after(async () => server.close());

  test('a confidential application: 201 with its secret once, and never again', async () => {
    const app = await create(orgA, appBody('web', { groupIDs: [groupA] }, { description: 'The web app', tags: [{ name: 'team', value: 'web' }] }));
    const id = app.metadata.id;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a uuid v4, the client_id');
    assert.equal(app.metadata.name, 'web');
    assert.equal(app.metadata.description, 'The web app');
    assert.deepEqual(app.metadata.tags, [{ name: 'team', value: 'web' }]);
    assert.equal(app.metadata.organizationId, orgA);
    assert.equal(app.metadata.createdBy, 'platform-administrator');
    assert.equal(app.metadata.provisioningStatus, 'provisioned');
    assert.deepEqual(app.spec, {
      redirectURIs: ['https://app.example.com/callback'],
      grantTypes: ['authorization_code', 'refresh_token'],
      public: false,
      enabled: true,
      groupIDs: [groupA],
      platform: false,
      tokenEndpointAuthMethod: 'client_secret_basic',
    });
    const secret: string = app.status.clientSecret;
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/, '256 bits, base64url');

    const read = (await (await server.api(`${apps(orgA)}/${id}`)).json()) as any;
    assert.deepEqual(read.status, {});
    assert.deepEqual({ ...read, status: undefined }, { ...app, status: undefined });
    const list = await (await server.api(apps(orgA))).text();
    assert.ok(list.includes(id) && !list.includes(secret));
    const put = await server.api(`${apps(orgA)}/${id}`, { method: 'PUT', json: appBody('web', { groupIDs: [groupA] }) });
    assert.equal(put.status, 200);
    const putText = await put.text();
    assert.ok(!putText.includes(secret) && !putText.includes('clientSecret'));

    // The log keeps the digest only.
    const events = await server.service.stores.events.readStream(`application-${id}`);
    assert.deepEqual(events.map((e) => e.type), ['application.created', 'application.updated']);
    assert.equal((events[0]!.data as any).secretSha256, createHash('sha256').update(secret).digest('hex'));
    assert.ok(!logText(await server.service.stores.events.readAll()).includes(secret));
    // The API's read model does not even keep the digest.
    const doc = await server.service.stores.readModels.collection('applications').findById(id);
    assert.ok(doc && !JSON.stringify(doc).includes((events[0]!.data as any).secretSha256));

    const client = await queries.authenticateClient(id, secret);
    assert.deepEqual(client, {
      clientId: id,
      organizationId: orgA,
      name: 'web',
      public: false,
      enabled: true,
      platform: false,
      redirectURIs: ['https://app.example.com/callback'],
      grantTypes: ['authorization_code', 'refresh_token'],
      groupIDs: [groupA],
      tokenEndpointAuthMethod: 'client_secret_basic',
    });
    const wrong = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    assert.equal(await queries.authenticateClient(id, wrong), undefined);
    assert.equal(await queries.authenticateClient(id, ''), undefined);
    assert.equal(await queries.authenticateClient('no-such-client', secret), undefined);
    assert.deepEqual(await queries.get(orgA, id), JSON.parse(putText), 'what the API reads');
    assert.equal(await queries.get(orgB, id), undefined);
  });

  test('a public application has no secret, cannot rotate one, and never authenticates with one', async () => {
    const app = await create(orgA, appBody('cli', { public: true, redirectURIs: ['http://127.0.0.1/callback'] }));
    assert.deepEqual(app.status, {});
    assert.equal(app.spec.public, true);
    const events = await server.service.stores.events.readStream(`application-${app.metadata.id}`);
    assert.equal((events[0]!.data as any).secretSha256, undefined);
    await expectError(await server.api(`${apps(orgA)}/${app.metadata.id}/secret`, { method: 'POST' }), 400, 'invalid_request', /public/);
    assert.equal(await queries.authenticateClient(app.metadata.id, ''), undefined);
    const client = await queries.client(app.metadata.id);
    assert.equal(client?.public, true);
    assert.equal(client?.enabled, true);
  });

  test('rotating the secret shows the new one once; the old one stops working', async () => {
    const app = await create(orgA, appBody('rotating'));
    const old = app.status.clientSecret;
    const response = await server.api(`${apps(orgA)}/${app.metadata.id}/secret`, { method: 'POST' });
    assert.equal(response.status, 200);
    const rotated = (await response.json()) as any;
    secrets.push(rotated.status.clientSecret);
    assert.match(rotated.status.clientSecret, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(rotated.status.clientSecret, old);
    assert.equal(rotated.metadata.id, app.metadata.id);
    assert.equal(rotated.metadata.modifiedBy, 'platform-administrator');
    assert.equal(await queries.authenticateClient(app.metadata.id, old), undefined);
    assert.equal((await queries.authenticateClient(app.metadata.id, rotated.status.clientSecret))?.clientId, app.metadata.id);
    const events = await server.service.stores.events.readStream(`application-${app.metadata.id}`);
    assert.deepEqual(events.at(-1)!.data, {
      applicationId: app.metadata.id,
      organizationId: orgA,
      secretSha256: createHash('sha256').update(rotated.status.clientSecret).digest('hex'),
    });
    assert.deepEqual(((await (await server.api(`${apps(orgA)}/${app.metadata.id}`)).json()) as any).status, {});
  });

  test('PATCH merges (RFC 7396), then validates the result like a PUT', async () => {
    const app = await create(orgA, appBody('patched', { groupIDs: [groupA] }, { description: 'to be removed', tags: [{ name: 'a', value: 'b' }] }));
    const url = `${apps(orgA)}/${app.metadata.id}`;
    const patch = (json: unknown) => server.api(url, { method: 'PATCH', json });

    let response = await patch({ metadata: { description: null }, spec: { enabled: false } });
    assert.equal(response.status, 200, await response.clone().text());
    let patched = (await response.json()) as any;
    assert.equal(patched.metadata.description, undefined, 'null removes');
    assert.deepEqual(patched.metadata.tags, [{ name: 'a', value: 'b' }], 'untouched fields stay');
    assert.equal(patched.spec.enabled, false);
    assert.deepEqual(patched.spec.redirectURIs, ['https://app.example.com/callback']);
    assert.deepEqual(patched.spec.groupIDs, [groupA]);
    assert.deepEqual(patched.status, {});
    assert.equal(patched.metadata.modifiedBy, 'platform-administrator');
    // A disabled application gets no tokens.
    assert.equal(await queries.authenticateClient(app.metadata.id, app.status.clientSecret), undefined);
    assert.equal((await queries.client(app.metadata.id))?.enabled, false);

    // Arrays are replaced, not merged.
    response = await patch({ spec: { redirectURIs: ['https://other.example.com/cb'], enabled: true } });
    patched = (await response.json()) as any;
    assert.deepEqual(patched.spec.redirectURIs, ['https://other.example.com/cb']);
    assert.ok(await queries.authenticateClient(app.metadata.id, app.status.clientSecret));

    const before = await (await server.api(url)).json();
    await expectError(await patch({ spec: { grantTypes: ['refresh_token'] } }), 400, 'invalid_request', /refresh_token/);
    await expectError(await patch({ spec: { unknown: 1 } }), 400, 'invalid_request', /unknown/i);
    await expectError(await patch({ metadata: { name: null } }), 400, 'invalid_request', /name/);
    await expectError(await patch({ spec: null }), 400, 'invalid_request', /spec/);
    await expectError(await patch({ spec: { redirectURIs: ['http://example.com/cb'] } }), 400, 'invalid_request', /https/);
    await expectError(await patch({ spec: { public: true, grantTypes: ['authorization_code'] } }), 400, 'invalid_request', /public cannot change/);
    await expectError(await patch({ ['__proto__']: { polluted: true } }), 400, 'invalid_request', /__proto__/);
    await expectError(await patch({ spec: { ['__proto__']: { enabled: false } } }), 400, 'invalid_request', /__proto__/);
    await expectError(await patch([1, 2]), 400, 'invalid_request');
    assert.deepEqual(await (await server.api(url)).json(), before, 'a refused patch changes nothing');

    // A patch that changes nothing writes nothing.
    const count = (await server.service.stores.events.readStream(`application-${app.metadata.id}`)).length;
    assert.equal((await patch({ spec: { enabled: true } })).status, 200);
    assert.equal((await server.service.stores.events.readStream(`application-${app.metadata.id}`)).length, count);
  });

  test('redirect URIs: https, or http on the loopback interface only; no fragment; absolute', async () => {
    const allowed = ['http://localhost:8080/cb', 'http://127.0.0.1:53682/', 'http://[::1]/callback', 'https://example.com:8443/cb?x=1'];
    for (const [index, uri] of allowed.entries()) {
      const app = await create(orgA, appBody(`redirect-${index}`, { redirectURIs: [uri] }));
      assert.deepEqual(app.spec.redirectURIs, [uri]);
    }
    const refused: Array<[string, RegExp]> = [
      ['http://example.com/cb', /must use https/],
      ['http://localhost.example.com/cb', /must use https/],
      ['https://example.com/cb#state', /fragment/],
      ['/callback', /absolute/],
      ['myapp://callback', /https/],
    ];
    for (const [uri, problem] of refused) {
      const body = await expectError(await server.api(apps(orgA), { method: 'POST', json: appBody('bad-uri', { redirectURIs: [uri] }) }), 400, 'invalid_request', problem);
      assert.ok(body.error_description.includes(uri), body.error_description);
    }
    assert.equal((await server.api(`${apps(orgA)}?filterBy=name==bad-uri`).then((r) => r.json()) as any[]).length, 0);
  });

  test('grant types: at least one; refresh_token with authorization_code; client_credentials for confidential applications', async () => {
    const refused: Array<[Record<string, unknown>, RegExp]> = [
      [{ grantTypes: [] }, /at least one grant type/],
      [{ grantTypes: ['refresh_token'] }, /refresh_token is allowed only together with authorization_code/],
      [{ grantTypes: ['client_credentials'], public: true }, /confidential/],
      [{ grantTypes: ['implicit'] }, /grantTypes/],
      [{ grantTypes: ['authorization_code'], redirectURIs: [] }, /redirect URI is required/],
    ];
    for (const [spec, problem] of refused) {
      await expectError(await server.api(apps(orgA), { method: 'POST', json: appBody('bad-grants', spec) }), 400, 'invalid_request', problem);
    }
    const machine = await create(orgA, { metadata: { name: 'machine' }, spec: { grantTypes: ['client_credentials'] } });
    assert.deepEqual(machine.spec.redirectURIs, []);
    assert.ok(machine.status.clientSecret);
    assert.deepEqual((await queries.authenticateClient(machine.metadata.id, machine.status.clientSecret))?.grantTypes, ['client_credentials']);
  });

  test('groups must be live groups of the same organization, named when not', async () => {
    await expectError(await server.api(apps(orgA), { method: 'POST', json: appBody('foreign-group', { groupIDs: [groupB] }) }), 400, 'invalid_request', new RegExp(groupB));
    await expectError(await server.api(apps(orgA), { method: 'POST', json: appBody('no-group', { groupIDs: ['no-such-group'] }) }), 400, 'invalid_request', /no-such-group/);
    const doomed = (await post(`/api/v1/organizations/${orgA}/groups`, { metadata: { name: 'doomed' }, spec: { roleIDs: ['reader'] } })).metadata.id;
    assert.equal((await server.api(`/api/v1/organizations/${orgA}/groups/${doomed}`, { method: 'DELETE' })).status, 200);
    await expectError(await server.api(apps(orgA), { method: 'POST', json: appBody('dead-group', { groupIDs: [doomed] }) }), 400, 'invalid_request', new RegExp(doomed));
    const app = await create(orgA, appBody('grouped'));
    await expectError(
      await server.api(`${apps(orgA)}/${app.metadata.id}`, { method: 'PATCH', json: { spec: { groupIDs: [groupB] } } }),
      400,
      'invalid_request',
      new RegExp(groupB),
    );
  });

  test('names are unique in an organization, whatever the case; renaming and deleting free them', async () => {
    const first = await create(orgA, appBody('unique-name'));
    await expectError(await server.api(apps(orgA), { method: 'POST', json: appBody('Unique-Name') }), 409, 'conflict', /already exists/);
    await create(orgB, appBody('unique-name')); // another organization is another namespace
    const renamed = await server.api(`${apps(orgA)}/${first.metadata.id}`, { method: 'PATCH', json: { metadata: { name: 'renamed-app' } } });
    assert.equal(renamed.status, 200);
    const second = await create(orgA, appBody('unique-name'));
    await expectError(await server.api(`${apps(orgA)}/${second.metadata.id}`, { method: 'PUT', json: appBody('renamed-app') }), 409, 'conflict');
    assert.equal((await server.api(`${apps(orgA)}/${first.metadata.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await server.api(`${apps(orgA)}/${second.metadata.id}`, { method: 'PUT', json: appBody('renamed-app') })).status, 200);
  });

  test('of concurrent creations with one name, exactly one succeeds', async () => {
    const racers = await Promise.all(Array.from({ length: 6 }, () => server.api(apps(orgA), { method: 'POST', json: appBody('racer') })));
    assert.deepEqual(racers.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409]);
    for (const racer of racers) {
      const body = (await racer.json()) as any;
      if (racer.status === 201) secrets.push(body.status.clientSecret);
    }
    assert.equal(((await (await server.api(`${apps(orgA)}?filterBy=name==racer`)).json()) as any[]).length, 1);
  });

  test('deleting the organization stops its clients', async () => {
    const org = (await post('/api/v1/organizations', { metadata: { name: 'app-org-doomed' }, spec: { organizationType: 'adhoc' } })).metadata.id;
    const app = await create(org, appBody('doomed-app'));
    assert.ok(await queries.authenticateClient(app.metadata.id, app.status.clientSecret));
    assert.equal((await server.api(`/api/v1/organizations/${org}`, { method: 'DELETE' })).status, 202);
    await eventually(async () => (await queries.client(app.metadata.id)) === undefined);
    assert.equal(await queries.authenticateClient(app.metadata.id, app.status.clientSecret), undefined);
    await eventually(async () => (await queries.get(org, app.metadata.id)) === undefined);
  });

  test('the OpenAPI document describes every application endpoint', async () => {
    const document = (await (await server.api('/openapi.json')).json()) as any;
    const item = document.paths['/api/v1/organizations/{organizationID}/applications/{applicationID}'];
    assert.deepEqual(Object.keys(item).sort(), ['delete', 'get', 'patch', 'put']);
    assert.deepEqual(Object.keys(document.paths['/api/v1/organizations/{organizationID}/applications']).sort(), ['get', 'post']);
    assert.ok(document.paths['/api/v1/organizations/{organizationID}/applications/{applicationID}/secret'].post.responses['200']);
    assert.ok(document.components.schemas.applicationRead && document.components.schemas.applicationWrite);
  });

  test('DELETE answers 204; the client is refused from then on', async () => {
    const app = await create(orgA, appBody('short-lived'));
    assert.ok(await queries.authenticateClient(app.metadata.id, app.status.clientSecret));
    const response = await server.api(`${apps(orgA)}/${app.metadata.id}`, { method: 'DELETE' });
    assert.equal(response.status, 204);
    assert.equal(await response.text(), '');
    await expectError(await server.api(`${apps(orgA)}/${app.metadata.id}`), 404, 'not_found');
    assert.equal(await queries.authenticateClient(app.metadata.id, app.status.clientSecret), undefined);
    assert.equal(await queries.client(app.metadata.id), undefined);
    await expectError(await server.api(`${apps(orgA)}/${app.metadata.id}`, { method: 'DELETE' }), 404, 'not_found');
    await expectError(await server.api(`${apps(orgA)}/${app.metadata.id}/secret`, { method: 'POST' }), 404, 'not_found');
  });

  test('an application addressed under another organization is not found, for every method', async () => {
    const app = await create(orgA, appBody('tenant-bound'));
    const foreign = `${apps(orgB)}/${app.metadata.id}`;
    await expectError(await server.api(foreign), 404, 'not_found');
    await expectError(await server.api(foreign, { method: 'PUT', json: appBody('stolen') }), 404, 'not_found');
    await expectError(await server.api(foreign, { method: 'PATCH', json: { spec: { enabled: false } } }), 404, 'not_found');
    await expectError(await server.api(foreign, { method: 'DELETE' }), 404, 'not_found');
    await expectError(await server.api(`${foreign}/secret`, { method: 'POST' }), 404, 'not_found');
    const untouched = (await (await server.api(`${apps(orgA)}/${app.metadata.id}`)).json()) as any;
    assert.equal(untouched.metadata.name, 'tenant-bound');
    assert.equal(untouched.spec.enabled, true);
    assert.ok(await queries.authenticateClient(app.metadata.id, app.status.clientSecret));
    const listB = (await (await server.api(apps(orgB))).json()) as any[];
    assert.ok(!listB.some((a) => a.metadata.id === app.metadata.id));
    await expectError(await server.api(`${apps('no-such-org')}`, { method: 'POST', json: appBody('orphan') }), 404, 'not_found');
  });

  test('platform applications: only platform administrators make or change them', async () => {
    const platformApp = await create(orgA, appBody('console', { platform: true }));
    assert.equal(platformApp.spec.platform, true);
    assert.equal((await queries.client(platformApp.metadata.id))?.platform, true);

    // An organization administrator manages ordinary applications...
    const own = await create(orgA, appBody('admin-made', { groupIDs: [groupA] }), adminToken);
    assert.equal(own.metadata.createdBy, 'org-admin');
    assert.equal((await server.api(`${apps(orgA)}/${own.metadata.id}`, { token: adminToken, method: 'PATCH', json: { spec: { enabled: false } } })).status, 200);
    // ...but makes no platform application, and changes none.
    await expectError(await server.api(apps(orgA), { token: adminToken, method: 'POST', json: appBody('sneaky', { platform: true }) }), 403, 'forbidden', /platform administrator/);
    await expectError(await server.api(`${apps(orgA)}/${own.metadata.id}`, { token: adminToken, method: 'PATCH', json: { spec: { platform: true } } }), 403, 'forbidden');
    const target = `${apps(orgA)}/${platformApp.metadata.id}`;
    await expectError(
      await server.api(target, { token: adminToken, method: 'PATCH', json: { spec: { redirectURIs: ['https://evil.example.com/cb'] } } }),
      403,
      'forbidden',
    );
    await expectError(await server.api(target, { token: adminToken, method: 'PUT', json: appBody('console') }), 403, 'forbidden');
    await expectError(await server.api(`${target}/secret`, { token: adminToken, method: 'POST' }), 403, 'forbidden');
    await expectError(await server.api(target, { token: adminToken, method: 'DELETE' }), 403, 'forbidden');
    assert.deepEqual(((await (await server.api(target, { token: adminToken })).json()) as any).spec, platformApp.spec, 'it may read it');
    assert.ok(await queries.authenticateClient(platformApp.metadata.id, platformApp.status.clientSecret), 'its secret still works');
    assert.equal((await server.api(apps(orgA), { token: adminToken, method: 'POST', json: appBody('sneaky', { platform: true }) })).status, 403);
    assert.equal((await (await server.api(`${apps(orgA)}?filterBy=name==sneaky`)).json() as any[]).length, 0, 'nothing written');
  });

  test('access family identity:applications: readers read, only writers write, other organizations get nothing', async () => {
    assert.equal((await server.api(apps(orgA), { token: readerToken })).status, 200);
    await expectError(await server.api(apps(orgA), { token: readerToken, method: 'POST', json: appBody('by-reader') }), 403, 'forbidden');
    await expectError(await server.api(apps(orgB), { token: adminToken }), 403, 'forbidden');
    await expectError(await server.api(apps(orgB), { token: adminToken, method: 'POST', json: appBody('cross-tenant') }), 403, 'forbidden');
    await expectError(await server.api(apps(orgA), { token: null }), 401, 'access_denied');
  });

  test('lists: paging with X-Total-Count, sorting, filters, search', async () => {
    const org = (await post('/api/v1/organizations', { metadata: { name: 'app-org-list' }, spec: { organizationType: 'adhoc' } })).metadata.id;
    for (const [name, isPublic] of [['alpha', false], ['bravo', true], ['charlie', false], ['delta', true], ['echo', false]] as const) {
      await create(org, appBody(name, { public: isPublic }, { description: `${name} app` }));
    }
    const names = async (query: string) => {
      const response = await server.api(`${apps(org)}${query}`);
      assert.equal(response.status, 200, await response.clone().text());
      const items = (await response.json()) as any[];
      for (const item of items) assert.deepEqual(item.status, {});
      return { names: items.map((a) => a.metadata.name), total: response.headers.get('x-total-count') };
    };
    assert.deepEqual(await names(''), { names: ['alpha', 'bravo', 'charlie', 'delta', 'echo'], total: '5' });
    assert.deepEqual(await names('?limit=2&offset=1'), { names: ['bravo', 'charlie'], total: '5' });
    assert.deepEqual(await names('?sortBy=name&sortOrder=desc&limit=2'), { names: ['echo', 'delta'], total: '5' });
    assert.deepEqual(await names('?filterBy=public==true'), { names: ['bravo', 'delta'], total: '2' });
    assert.deepEqual(await names('?filterBy=public==false&filterBy=name!=alpha'), { names: ['charlie', 'echo'], total: '2' });
    assert.deepEqual(await names('?filterBy=grantTypes==refresh_token&limit=1'), { names: ['alpha'], total: '5' });
    assert.deepEqual(await names('?search=HARL'), { names: ['charlie'], total: '1' });
    await expectError(await server.api(`${apps(org)}?sortBy=secret`), 400, 'invalid_request', /sortBy/);
    await expectError(await server.api(`${apps(org)}?filterBy=public==maybe`), 400, 'invalid_request', /true or false/);
    await expectError(await server.api(`${apps(org)}?limit=0`), 400, 'invalid_request', /limit/);
    await expectError(await server.api(`${apps(org)}?color=red`), 400, 'invalid_request');
  });

  test('bad input gets a 4xx naming the problem, and writes nothing', async () => {
    const head = await server.service.stores.events.headPosition();
    await expectError(await server.api(apps(orgA), { method: 'POST' }), 400, 'invalid_request', /body/);
    await expectError(await server.api(apps(orgA), { method: 'POST', json: { ...appBody('extra'), status: { clientSecret: 'mine' } } }), 400, 'invalid_request', /status/);
    await expectError(await server.api(apps(orgA), { method: 'POST', json: appBody('Not A Label!') }), 400, 'invalid_request', /name/);
    await expectError(await server.api(apps(orgA), { method: 'POST', json: appBody('typed', { public: 'yes' }) }), 400, 'invalid_request', /public/);
    await expectError(await server.api(apps(orgA), { method: 'POST', json: { metadata: { name: 'no-spec' } } }), 400, 'invalid_request', /spec/);
    await expectError(
      await server.api(apps(orgA), { method: 'POST', body: 'metadata=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      415,
      'unsupported_media_type',
    );
    await expectError(
      await server.api(apps(orgA), { method: 'POST', body: '{"metadata":', headers: { 'content-type': 'application/json' } }),
      400,
      'invalid_request',
      /JSON/,
    );
    assert.deepEqual(await server.service.stores.events.headPosition(), head);
  });

  test('no secret handed out is in the log, the data files or the service logs', async () => {
    assert.ok(secrets.length >= 5);
    const everything = logText(await server.service.stores.events.readAll());
    const files = readdirSync(server.dataDir, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => readFileSync(join(server.dataDir, entry.name)).toString('latin1'));
    assert.ok(files.length > 0);
    const logs = server.logs.join('\n');
    for (const secret of secrets) {
      assert.ok(!everything.includes(secret), 'not in an event');
      assert.ok(!files.some((content) => content.includes(secret)), 'not in a data file');
      assert.ok(!logs.includes(secret), 'not in a log line');
    }
    assert.ok(logs.length > 0);
  });
});

describe('application credentials after a restart', () => {
  test('are rebuilt from the log: the current secret works, the rotated one does not', async () => {
    const data = tempDir();
    let server = await startTestServer({ dataDir: data.path });
    try {
      const org = ((await (await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: 'restart-org' }, spec: { organizationType: 'adhoc' } } })).json()) as any).metadata.id;
      const app = (await (await server.api(`/api/v1/organizations/${org}/applications`, { method: 'POST', json: appBody('survivor') })).json()) as any;
      const rotated = (await (await server.api(`/api/v1/organizations/${org}/applications/${app.metadata.id}/secret`, { method: 'POST' })).json()) as any;
      await server.stop();
      server = await startTestServer({ dataDir: data.path });
      const queries = new ApplicationQueries(server.service.stores.readModels);
      assert.equal((await queries.authenticateClient(app.metadata.id, rotated.status.clientSecret))?.name, 'survivor');
      assert.equal(await queries.authenticateClient(app.metadata.id, app.status.clientSecret), undefined);
      assert.equal((await server.api(`/api/v1/organizations/${org}/applications/${app.metadata.id}`)).status, 200);
    } finally {
      await server.stop();
      data.remove();
    }
  });
});
