import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { createOrganization, serviceAccountWithRoles } from '../support/tenants.js';

/** The accounts API of seed 002 with its API keys (docs/accounts.md). */
describe('accounts and API keys (/api/v2/accounts, seed 002)', () => {
  let server: TestServer;
  let orgA: string;
  let orgB: string;
  let adminA: { token: string };
  let adminB: { token: string };

  before(async () => {
    server = await startTestServer();
    orgA = await createOrganization(server, `accounts-a-${Date.now()}`);
    orgB = await createOrganization(server, `accounts-b-${Date.now()}`);
    adminA = await serviceAccountWithRoles(server, orgA, ['admin']);
    adminB = await serviceAccountWithRoles(server, orgB, ['admin']);
  });
  after(async () => server.close());

  const as = (token: string) => (path: string, init: { method?: string; json?: unknown; headers?: Record<string, string> } = {}) => server.api(path, { ...init, token });
  const json = async (response: Response, status = 200) => {
    const text = await response.text();
    assert.equal(response.status, status, text);
    return text === '' ? undefined : (JSON.parse(text) as any);
  };
  const createAccount = async (token: string, body: Record<string, unknown>) => json(await as(token)('/api/v2/accounts', { method: 'POST', json: body }), 201);
  const text = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
  /** Every byte the service keeps in its data folder (events, audit index, idempotency, ledger), as text. */
  const everythingStored = () =>
    readdirSync(server.dataDir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => readFileSync(join(entry.parentPath, entry.name)).toString('latin1'))
      .join('\n');

  // --- Attacks first -------------------------------------------------------------------------

  test('a replaced, revoked, tampered or malformed key is a 401 at once', async () => {
    const created = await createAccount(adminA.token, { email: 'keyholder@example.com', is_admin: true, generate_api_key: true });
    const first = created.token as string;
    assert.match(first, /^ak_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    assert.equal((await as(first)('/api/v2/accounts')).status, 200, 'the key works as a bearer token');

    // Tampered: one character of the secret, of the key id, the prefix; truncated; padded.
    const flip = (token: string, at: number) => token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
    for (const tampered of [flip(first, first.length - 1), flip(first, 5), `ak_${first.slice(3, 35)}_${'A'.repeat(43)}`, first.slice(0, -1), `${first}A`, first.replace('ak_', 'sa_')]) {
      const response = await as(tampered)('/api/v2/accounts');
      assert.equal(response.status, 401, `tampered ${tampered}`);
      assert.ok(!(await response.text()).includes(first), 'the refusal does not echo a key');
    }

    // A new key replaces the old one: the old is refused from the next request on.
    const second = (await json(await as(adminA.token)(`/api/v2/accounts/${created.id}/api-key`, { method: 'POST' }))).token as string;
    assert.notEqual(second, first);
    assert.equal((await as(first)('/api/v2/accounts')).status, 401, 'the replaced key');
    assert.equal((await as(second)('/api/v2/accounts')).status, 200, 'the new key');

    // Revoked: at once.
    assert.equal((await as(adminA.token)(`/api/v2/accounts/${created.id}/api-key`, { method: 'DELETE' })).status, 204);
    assert.equal((await as(second)('/api/v2/accounts')).status, 401, 'the revoked key');
    const after = await json(await as(adminA.token)(`/api/v2/accounts/${created.id}`));
    assert.equal(after.api_key_expiry_time, undefined, 'no key, no expiry');
    assert.equal((await as(adminA.token)(`/api/v2/accounts/${created.id}/api-key`, { method: 'DELETE' })).status, 204, 'revoking again changes nothing');
  });

  test('a disabled or deleted account\'s key is a 401 at once; enabled again, it works again', async () => {
    const created = await createAccount(adminA.token, { email: 'fleeting@example.com', is_admin: true, generate_api_key: true });
    const key = created.token as string;
    assert.equal((await as(key)('/api/v2/accounts')).status, 200);
    await json(await as(adminA.token)(`/api/v2/accounts/${created.id}`, { method: 'PUT', json: { enabled: false } }));
    assert.equal((await as(key)('/api/v2/accounts')).status, 401, 'disabled');
    assert.equal((await json(await as(adminA.token)(`/api/v2/accounts/${created.id}`, { method: 'PUT', json: { enabled: true } }))).enabled, true);
    assert.equal((await as(key)('/api/v2/accounts')).status, 200, 'enabled again');
    assert.equal((await as(adminA.token)(`/api/v2/accounts/${created.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await as(key)('/api/v2/accounts')).status, 401, 'deleted');
    assert.equal((await as(adminA.token)(`/api/v2/accounts/${created.id}`)).status, 404);
  });

  test('a key acts in its own organization only, with its account\'s permissions only', async () => {
    const inA = await createAccount(adminA.token, { email: 'admin-of-a@example.com', is_admin: true, generate_api_key: true });
    const inB = await createAccount(adminB.token, { email: 'someone-in-b@example.com' });
    const key = inA.token as string;
    // Another organization: naming it is a 403; its account numbers are not found in mine.
    assert.equal((await as(key)('/api/v2/accounts', { headers: { 'X-Organization-ID': orgB } })).status, 403);
    for (const [method, path] of [['GET', ''], ['PUT', ''], ['DELETE', ''], ['POST', '/api-key'], ['DELETE', '/api-key'], ['POST', '/password']] as const) {
      const body = method === 'PUT' ? { first_name: 'x' } : path === '/password' ? { new_password: 'an intruder password' } : undefined;
      const response = await as(key)(`/api/v2/accounts/${inB.id}${path}`, { method, ...(body && { json: body }) });
      assert.equal(response.status, 404, `${method} ${path}`);
    }
    assert.ok(!JSON.stringify(await json(await as(key)('/api/v2/accounts'))).includes('someone-in-b'), 'not listed');
    assert.equal((await as(key)(`/api/v1/organizations/${orgB}/users`)).status, 403, 'nor through the seed 004 API');

    // A plain account's key has the plain account's permissions: none here.
    const plain = await createAccount(adminA.token, { email: 'plain@example.com', generate_api_key: true });
    assert.deepEqual(plain.tags, []);
    const plainRead = await json(await as(adminA.token)(`/api/v2/accounts/${plain.id}`));
    assert.deepEqual(plainRead.effective_scopes, []);
    assert.equal(plainRead.is_admin, false);
    assert.equal((await as(plain.token)('/api/v2/accounts')).status, 403);
    assert.equal((await as(plain.token)('/api/v2/accounts', { method: 'POST', json: { email: 'escalate@example.com', is_admin: true } })).status, 403);
    // Made an admin, the same key can: the permissions are the account's, not the key's.
    await json(await as(adminA.token)(`/api/v2/accounts/${plain.id}`, { method: 'PUT', json: { is_admin: true } }));
    assert.equal((await as(plain.token)('/api/v2/accounts')).status, 200);
  });

  test('a key never shows again: not in the log, the data folder, the logs, a GET or a list', async () => {
    const created = await createAccount(adminA.token, { email: 'secretive@example.com', is_admin: true, generate_api_key: true });
    const key = created.token as string;
    await json(await as(key)('/api/v2/accounts'));
    const renewed = await json(await as(adminA.token)(`/api/v2/accounts/${created.id}/api-key`, { method: 'POST' }));
    const get = await as(adminA.token)(`/api/v2/accounts/${created.id}`);
    const list = await as(adminA.token)('/api/v2/accounts?limit=500');
    const history = await as(adminA.token)(`/api/v1/organizations/${orgA}/users`);
    const secretOf = (token: string) => token.slice(-43);
    for (const token of [key, renewed.token as string]) {
      for (const [where, text] of [['GET', await get.clone().text()], ['list', await list.clone().text()], ['seed 004 list', await history.clone().text()], ['logs', server.logs.join('\n')], ['data folder', everythingStored()]] as const) {
        assert.ok(!text.includes(secretOf(token)), `the key's secret is in the ${where}`);
      }
    }
    // The log holds the key's digest and id, never the key.
    const events = await server.service.stores.events.readAll();
    const keyEvents = events.filter((event) => event.type.startsWith('api_key.'));
    assert.ok(keyEvents.length >= 3, 'generated, replaced (revoked), generated');
    for (const event of keyEvents) assert.ok(!text(event).includes(secretOf(key)) && !text(event).includes(secretOf(renewed.token)));
  });

  test('an expired key is a 401 (API_KEY_LIFETIME_SECONDS)', async () => {
    const short = await startTestServer({ env: { API_KEY_LIFETIME_SECONDS: '1' } });
    try {
      const org = await createOrganization(short, `short-${Date.now()}`);
      const created = await json(await short.api('/api/v2/accounts', { method: 'POST', headers: { 'X-Organization-ID': org }, json: { email: 'brief@example.com', is_admin: true, generate_api_key: true } }), 201);
      const read = await json(await short.api(`/api/v2/accounts/${created.id}`, { headers: { 'X-Organization-ID': org } }));
      assert.ok(Date.parse(read.api_key_expiry_time) - Date.now() <= 1000, 'expires a second after it was made');
      const use = () => short.api('/api/v2/accounts', { token: created.token, headers: { 'X-Organization-ID': org } });
      const first = await use();
      if (Date.now() < Date.parse(read.api_key_expiry_time)) assert.equal(first.status, 200, 'good until it expires');
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(read.api_key_expiry_time) - Date.now()) + 50));
      assert.equal((await use()).status, 401, 'expired');
    } finally {
      await short.close();
    }
  });

  // --- The API -------------------------------------------------------------------------------

  test('create, get, update: the seed\'s fields; the same user through the seed 004 API, one history', async () => {
    const created = await createAccount(adminA.token, {
      email: 'grace@example.com',
      username: 'grace.hopper',
      first_name: 'Grace',
      last_name: 'Hopper',
      api_client_id: 'client-7',
      ldap_principal: 'uid=grace,ou=people,dc=example,dc=com',
      password: 'a password for grace',
      tags: [{ key: 'team', value: 'compilers' }, { key: 'floor', value: '3' }],
      is_admin: true,
    });
    assert.equal(created.token, undefined, 'no key unless asked for');
    assert.equal(typeof created.id, 'number');
    assert.deepEqual(created, {
      id: created.id,
      first_name: 'Grace',
      last_name: 'Hopper',
      email: 'grace@example.com',
      username: 'grace.hopper',
      ldap_principal: 'uid=grace,ou=people,dc=example,dc=com',
      tags: [{ key: 'team', value: 'compilers' }, { key: 'floor', value: '3' }],
    });
    const read = await json(await as(adminA.token)(`/api/v2/accounts/${created.id}`));
    assert.equal(read.api_client_id, 'client-7');
    assert.equal(read.enabled, true);
    assert.equal(read.is_admin, true);
    assert.ok(!Number.isNaN(Date.parse(read.creation_time)));
    assert.ok(read.effective_scopes.some((s: any) => s.id === 'identity:users:create'), JSON.stringify(read.effective_scopes));
    assert.ok(!JSON.stringify(read).includes('a password for grace'));

    const users = (await json(await server.api(`/api/v1/organizations/${orgA}/users`))) as any[];
    const user = users.find((u) => u.spec.subject === 'grace@example.com');
    assert.equal(user.metadata.name, 'grace.hopper', 'the same user');
    assert.equal(user.account, undefined, 'the seed 004 user is unchanged');

    const updated = await json(
      await as(adminA.token)(`/api/v2/accounts/${created.id}`, { method: 'PUT', json: { ...read, first_name: 'Amazing Grace', tags: [{ key: 'team', value: 'cobol' }], is_admin: false } }),
    );
    assert.equal(updated.first_name, 'Amazing Grace');
    assert.equal(updated.last_name, 'Hopper', 'fields not sent stay');
    assert.deepEqual(updated.tags, [{ key: 'team', value: 'cobol' }]);
    assert.equal(updated.is_admin, false);
    assert.deepEqual(updated.effective_scopes, []);
    assert.equal(updated.id, created.id, 'the number is stable');

    const events = (await server.service.stores.events.readAll()).filter((e) => (e.data as { userId?: string }).userId === user.metadata.id);
    const types = events.map((e) => e.type);
    assert.ok(types.includes('user.created') && types.includes('user.profile.changed') && types.includes('user.account_number.assigned'), types.join());

    // Bad input: 4xx with a clear message, never a 500.
    for (const body of [{}, { email: 'x@example.com', unknown: 1 }, { email: 'x@example.com', username: 'not a label' }, { username: ' padded ' }, { email: 'x@example.com', tags: [{ key: '', value: 'v' }] }, { email: 'x@example.com', password: 'short' }]) {
      const response = await as(adminA.token)('/api/v2/accounts', { method: 'POST', json: body });
      assert.equal(response.status, 400, `${JSON.stringify(body)}: ${await response.text()}`);
    }
    assert.equal((await as(adminA.token)('/api/v2/accounts', { method: 'POST', json: { email: 'GRACE@example.com' } })).status, 409);
    for (const id of ['0', 'abc', '-1', '99999999999', '1.5']) assert.equal((await as(adminA.token)(`/api/v2/accounts/${id}`)).status, 400, id);
    assert.equal((await as(adminA.token)('/api/v2/accounts/999999')).status, 404);
    assert.equal((await as(adminA.token)('/api/v2/accounts?cursor=bm90LWEtY3Vyc29y')).status, 400);
  });

  test('an account without an email: its username is its login name', async () => {
    const created = await createAccount(adminA.token, { username: 'robot-7' });
    assert.equal(created.username, 'robot-7');
    assert.equal(created.email, undefined);
    const users = (await json(await server.api(`/api/v1/organizations/${orgA}/users`))) as any[];
    assert.ok(users.some((u) => u.spec.subject === 'robot-7'));
  });

  test('change password: with the old one proven first (a wrong one is a 400), or set by an administrator', async () => {
    const created = await createAccount(adminA.token, { email: 'pw@example.com', password: 'the first password' });
    const change = (json: unknown) => as(adminA.token)(`/api/v2/accounts/${created.id}/password`, { method: 'POST', json });
    assert.equal((await change({ old_password: 'not the password', new_password: 'the second password' })).status, 400);
    assert.equal((await change({ old_password: 'the first password', new_password: 'short' })).status, 400, 'the password rules apply');
    assert.equal((await change({ old_password: 'the first password', new_password: 'the second password' })).status, 204);
    assert.equal((await change({ old_password: 'the first password', new_password: 'the third password' })).status, 400, 'the old one no longer proves anything');
    assert.equal((await change({ new_password: 'set by an admin here' })).status, 204);
    assert.equal((await change({ old_password: 'set by an admin here', new_password: 'the fourth password' })).status, 204, 'the administrator\'s password is the password');
    const changes = (await server.service.stores.events.readAll()).filter((e) => e.type === 'user.password.changed');
    assert.ok(changes.length >= 4);
    for (const event of changes) assert.ok(!text(event).includes('the fourth password'));
  });

  test("the organization's password policy applies to the accounts' passwords: create, administrator's set, own change with reuse", async () => {
    const org = await createOrganization(server, `policy-${Date.now()}`);
    const admin = await serviceAccountWithRoles(server, org, ['admin']);
    const policy = { enabled: true, min_length: 10, reuse_disallow_limit: 2, digit: true, uppercase_letter: true, lowercase_letter: true, special_character: false, disallow_username_as_password: true, maximum_password_attempts: 3 };
    await json(await as(admin.token)('/api/v2/password-policy', { method: 'PUT', json: policy }));
    const refused = await as(admin.token)('/api/v2/accounts', { method: 'POST', json: { email: 'policed@example.com', password: 'alllowercase' } });
    const why = await refused.text();
    assert.equal(refused.status, 400, why);
    assert.match(why, /digit/i);
    assert.match(why, /upper/i);
    const users = (await json(await server.api(`/api/v1/organizations/${org}/users`))) as unknown[];
    assert.equal(users.length, 0, 'nothing was created half');

    const created = await createAccount(admin.token, { email: 'policed@example.com', password: 'Compliant1x' });
    const change = (body: unknown) => as(admin.token)(`/api/v2/accounts/${created.id}/password`, { method: 'POST', json: body });
    assert.equal((await change({ new_password: 'no digits Here' })).status, 400, "the administrator's set follows the policy");
    assert.equal((await change({ new_password: 'xPoliced@example.com1' })).status, 400, 'not the username');
    assert.equal((await change({ old_password: 'Compliant1x', new_password: 'Compliant2y' })).status, 204);
    const reused = await change({ old_password: 'Compliant2y', new_password: 'Compliant1x' });
    assert.equal(reused.status, 400, 'one of the last two passwords');
    assert.match(await reused.text(), /reuse|previous|last/i);
  });

  test('last_access_time follows the use of a key', async () => {
    const created = await createAccount(adminA.token, { email: 'busy@example.com', is_admin: true, generate_api_key: true });
    const before = await json(await as(adminA.token)(`/api/v2/accounts/${created.id}`));
    assert.equal(before.last_access_time, undefined);
    await json(await as(created.token)('/api/v2/accounts'));
    await json(await as(created.token)('/api/v2/accounts'));
    const seen = await (async () => {
      for (let i = 0; i < 100; i++) {
        const read = await json(await as(adminA.token)(`/api/v2/accounts/${created.id}`));
        if (read.last_access_time) return read.last_access_time as string;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return undefined;
    })();
    assert.ok(seen && Date.now() - Date.parse(seen) < 60_000, `last_access_time ${seen}`);
    // Bounded: two uses within a minute are one activity event, beside the user's stream (not in it).
    const users = (await json(await server.api(`/api/v1/organizations/${orgA}/users`))) as any[];
    const userId = users.find((u) => u.spec.subject === 'busy@example.com').metadata.id as string;
    const activity = (await server.service.stores.events.readAll()).filter((e) => e.type === 'user.activity.recorded' && (e.data as { userId: string }).userId === userId);
    assert.equal(activity.length, 1);
    assert.equal(activity[0]!.streamName, `useractivity-${userId}`);
  });

  test('search with a filter expression: tags, OR, NOT, numbers, cursor pages; a bad expression is a 400 that says where', async () => {
    const org = await createOrganization(server, `search-${Date.now()}`);
    const admin = await serviceAccountWithRoles(server, org, ['admin']);
    const make = (email: string, team: string, first: string) => createAccount(admin.token, { email, first_name: first, tags: [{ key: 'team', value: team }] });
    const ada = await make('ada@example.com', 'engines', 'Ada');
    const alan = await make('alan@example.com', 'bombe', 'Alan');
    const edsger = await make('edsger@example.com', 'engines', 'Edsger');
    const search = async (filter_expression: string, query = '') => json(await as(admin.token)(`/api/v2/accounts/search${query}`, { method: 'POST', json: { filter_expression } }));
    const emails = (page: any) => page.items.map((a: any) => a.email).sort();

    assert.deepEqual(emails(await search("tags CONTAINS {key EQ 'team' AND value EQ 'engines'}")), ['ada@example.com', 'edsger@example.com']);
    assert.deepEqual(emails(await search("first_name EQ 'Alan' OR NOT email CONTAINS 'ada'")), ['alan@example.com', 'edsger@example.com']);
    assert.deepEqual(emails(await search(`id IN [${ada.id}, ${alan.id}] and not first_name eq 'Alan'`)), ['ada@example.com']);
    assert.deepEqual(emails(await search("SEARCH 'EDSGER'")), ['edsger@example.com']);
    const first = await search("email CONTAINS '@example.com'", '?limit=2');
    assert.equal(first.response_metadata.total, 3);
    const second = await search("email CONTAINS '@example.com'", `?limit=2&cursor=${first.response_metadata.next_cursor}`);
    assert.deepEqual([...first.items, ...second.items].map((a: any) => a.id), [ada.id, alan.id, edsger.id]);

    for (const bad of ["first_name EQ", "password EQ 'x'", "first_name EQ 'a' AND (", "id GT 'x'"]) {
      const response = await as(admin.token)('/api/v2/accounts/search', { method: 'POST', json: { filter_expression: bad } });
      const body = await response.text();
      assert.equal(response.status, 400, `${bad}: ${body}`);
      assert.match(body, /offset \d+/, bad);
    }
    assert.equal((await as(admin.token)('/api/v2/accounts/search', { method: 'POST', json: {} })).status, 400);
    // The filterable attributes are declared in the OpenAPI document (the seed's x-filterable).
    const openapi = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as any;
    const filterable = openapi.components.schemas.AccountSearch['x-filterable'] as string[];
    for (const name of ['id', 'email', 'username', 'first_name', 'tags', 'creation_time']) assert.ok(filterable.includes(name), name);
    assert.ok(!filterable.includes('password'));
  });

  test('enabled, is_admin and effective_scopes are filterable: every search answers what the accounts show', async () => {
    const org = await createOrganization(server, `derived-${Date.now()}`);
    const admin = await serviceAccountWithRoles(server, org, ['admin']);
    const ada = await createAccount(admin.token, { email: 'ada@example.com', is_admin: true });
    await createAccount(admin.token, { email: 'alan@example.com' });
    const edsger = await createAccount(admin.token, { email: 'edsger@example.com' });
    await createAccount(admin.token, { email: 'grace@example.com' });
    await json(await as(admin.token)(`/api/v2/accounts/${edsger.id}`, { method: 'PUT', json: { enabled: false } }));
    // grace reads users through a group of the seed 004 API (a role that is not admin).
    const listed = await json(await server.api(`/api/v1/organizations/${org}/users?limit=100`));
    const users = (Array.isArray(listed) ? listed : listed.items) as any[];
    const grace = users.find((user) => user.spec.subject === 'grace@example.com')!.metadata.id;
    await json(await server.api(`/api/v1/organizations/${org}/groups`, { method: 'POST', json: { metadata: { name: 'readers' }, spec: { roleIDs: ['reader'], userIDs: [grace] } } }), 201);
    void ada;

    const shown = (await json(await as(admin.token)('/api/v2/accounts?limit=100'))).items as any[];
    const byEmail = (accounts: any[]) => accounts.map((a) => a.email).sort();
    const search = async (filter_expression: string) => {
      const response = await as(admin.token)('/api/v2/accounts/search?limit=100', { method: 'POST', json: { filter_expression } });
      return byEmail((await json(response)).items);
    };
    const hasScope = (account: any, test: (scope: { id: string; name: string }) => boolean) => account.effective_scopes.some(test);
    const userRead = shown.find((a) => a.email === 'grace@example.com')!.effective_scopes[0];
    assert.ok(userRead, 'grace has scopes through her group');
    const cases: Array<[string, (account: any) => boolean]> = [
      ['enabled EQ true', (a) => a.enabled],
      ['enabled EQ false', (a) => !a.enabled],
      ['NOT enabled EQ false', (a) => a.enabled],
      ['enabled NE true', (a) => !a.enabled],
      ['enabled IN [true, false]', () => true],
      ['enabled EQ nil', () => false],
      ['is_admin EQ true', (a) => a.is_admin],
      ['is_admin EQ false AND enabled EQ true', (a) => !a.is_admin && a.enabled],
      ['is_admin EQ true OR enabled EQ false', (a) => a.is_admin || !a.enabled],
      [`effective_scopes CONTAINS {id EQ '${userRead.id}'}`, (a) => hasScope(a, (s) => s.id === userRead.id)],
      ["effective_scopes CONTAINS {id EQ 'identity:users:delete'}", (a) => hasScope(a, (s) => s.id === 'identity:users:delete')],
      ["effective_scopes CONTAINS {name CONTAINS 'read' AND NOT id CONTAINS 'audit'}", (a) => hasScope(a, (s) => s.name.includes('read') && !s.id.includes('audit'))],
      ["NOT effective_scopes CONTAINS {id CONTAINS ':'}", (a) => a.effective_scopes.length === 0],
      ['effective_scopes NE nil', () => true],
    ];
    for (const [expression, expected] of cases) {
      assert.deepEqual(await search(expression), byEmail(shown.filter((a) => a.email !== undefined && expected(a))), expression);
    }
    // Types and operators as for stored fields: a 400 that says where.
    for (const bad of ["enabled EQ 'yes'", 'is_admin GT false', "effective_scopes EQ 'x'", "effective_scopes CONTAINS {colour EQ 'red'}", "SEARCH 'x' AND enabled CONTAINS 'x'"]) {
      const response = await as(admin.token)('/api/v2/accounts/search', { method: 'POST', json: { filter_expression: bad } });
      const body = await response.text();
      assert.equal(response.status, 400, `${bad}: ${body}`);
      assert.match(body, /offset \d+/, bad);
    }
    const openapi = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as any;
    const filterable = openapi.components.schemas.AccountSearch['x-filterable'] as string[];
    for (const name of ['enabled', 'is_admin', 'effective_scopes']) assert.ok(filterable.includes(name), name);
  });

  test('cursor pages: every account exactly once, forwards and back, while accounts come and go', async () => {
    const org = await createOrganization(server, `paging-${Date.now()}`);
    const admin = await serviceAccountWithRoles(server, org, ['admin']);
    const call = as(admin.token);
    const made: number[] = [];
    for (let i = 0; i < 7; i++) made.push((await createAccount(admin.token, { email: `p${i}@example.com` })).id);
    const page = async (cursor?: string) => json(await call(`/api/v2/accounts?limit=3${cursor ? `&cursor=${cursor}` : ''}`));

    const first = await page();
    assert.equal(first.response_metadata.total, 7);
    assert.equal(first.response_metadata.prev_cursor, null);
    // Between pages: one account seen is deleted, one new one is created.
    assert.equal((await call(`/api/v2/accounts/${first.items[0].id}`, { method: 'DELETE' })).status, 204);
    const late = await createAccount(admin.token, { email: 'late@example.com' });
    const second = await page(first.response_metadata.next_cursor);
    const third = await page(second.response_metadata.next_cursor);
    assert.equal(third.response_metadata.next_cursor, null);
    const seen = [...first.items, ...second.items, ...third.items].map((a: any) => a.id);
    assert.equal(new Set(seen).size, seen.length, 'none repeated');
    for (const id of made) assert.ok(seen.includes(id), `account ${id} skipped`);
    assert.ok(seen.includes(late.id), 'the new one comes last');
    // And back: the page before the third is the second.
    const back = await page(third.response_metadata.prev_cursor);
    assert.deepEqual(back.items.map((a: any) => a.id), second.items.map((a: any) => a.id));
  });
});
