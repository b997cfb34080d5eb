/**
 * The log written by an earlier version must stay readable by every later
 * one. test/fixtures/log-v1 was written through the API by the code of its
 * time (events without a schema version); this loads it into a fresh store,
 * starts today's service over it, and checks that every event still reads
 * (upcast where its shape has changed since), that the read models answer what
 * that version answered, and that its user still signs in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { eventSchemas } from '../../src/domain/events.js';
import { createEventReader, eventReader, UPCASTERS } from '../../src/domain/upcasting.js';
import { loadFixtureLog, readFixtureLog } from '../support/fixture-log.js';
import { authorizationUrl, pkcePair, submitLogin, tokenRequest, userinfoRequest } from '../support/oidc.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

/** Everything `expected` says is in `actual` (which may hold more: later versions may add fields). */
function assertIncludes(actual: unknown, expected: unknown, path = '$'): void {
  if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${path}: expected an object or array, got ${JSON.stringify(actual)}`);
    if (Array.isArray(expected)) {
      assert.ok(Array.isArray(actual), `${path}: expected an array`);
      assert.equal(actual.length, expected.length, `${path}: length`);
    }
    for (const [key, value] of Object.entries(expected)) assertIncludes((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
    return;
  }
  assert.deepEqual(actual, expected, path);
}

const log = readFixtureLog('log-v1');
const { manifest } = log;

describe('fixture log v1: written by an earlier version, read by this one', () => {
  const dir = tempDir();
  let server: TestServer;
  const base = `/api/v1/organizations/${manifest.organization.id}`;
  const get = async (path: string) => {
    const response = await server.api(path);
    assert.equal(response.status, 200, `GET ${path}: ${response.status} ${await response.clone().text()}`);
    return response.json();
  };

  before(async () => {
    await loadFixtureLog(log, dir.path);
    server = await startTestServer({ dataDir: dir.path });
    await eventually(async () => (await server.api('/readyz', { token: null })).status === 200, 15_000);
  });
  after(async () => {
    await server?.close();
    dir.remove();
  });

  test('every event of the fixture reads with the current schemas (upcast where needed)', () => {
    assert.ok(log.events.length > 40, `the fixture has ${log.events.length} events`);
    const unreadable = log.events
      .map((event, line) => ({ line: line + 1, event, outcome: eventReader.read(event) }))
      .filter(({ outcome }) => !outcome.ok)
      .map(({ line, event, outcome }) => `line ${line} ${event.type}: ${outcome.ok ? '' : `${outcome.unreadable.problem} ${outcome.unreadable.detail}`}`);
    assert.deepEqual(unreadable, [], 'add an upcaster in src/domain/upcasting.ts for each changed shape');
  });

  test('a shape changed without an upcaster is caught by this fixture; with one, it reads', () => {
    // Suppose user.created gained a required displayName in its next version.
    const changed = { ...eventSchemas, 'user.created': (eventSchemas['user.created'] as z.ZodObject).extend({ displayName: z.string() }) };
    const unreadable = (reader: ReturnType<typeof createEventReader>) => log.events.filter((event) => !reader.read(event).ok).map((event) => event.type);
    const without = unreadable(createEventReader({ schemas: changed, upcasters: UPCASTERS }));
    assert.ok(without.length > 0 && without.every((type) => type === 'user.created'), without.join());
    const addDisplayName = (data: unknown) => ({ ...(data as { name: string }), displayName: (data as { name: string }).name });
    const upcasters = { ...UPCASTERS, 'user.created': [...(UPCASTERS['user.created'] ?? []), addDisplayName] };
    assert.deepEqual(unreadable(createEventReader({ schemas: changed, upcasters })), []);
  });

  test('the service is ready over it and found nothing it cannot read', async () => {
    const response = await server.api('/readyz', { token: null });
    const body = (await response.json()) as { status: string; failures: object; unreadableEvents: { count: number } };
    assert.equal(body.status, 'ready');
    assert.deepEqual(body.failures, {});
    assert.equal(body.unreadableEvents.count, 0, JSON.stringify(body.unreadableEvents));
  });

  test('the read models answer what the version that wrote the log answered', async () => {
    const { ids, expected } = manifest;
    assertIncludes(await get(base), expected.organization);
    assertIncludes(await get(`${base}/users/${ids.alice}`), expected.users.alice);
    assertIncludes(await get(`${base}/users/${ids.bob}`), expected.users.bob);
    assertIncludes(await get(`${base}/groups/${ids.engineers}`), expected.groups.engineers);
    assertIncludes(await get(`${base}/groups/${ids.readers}`), expected.groups.readers);
    assertIncludes(await get(`${base}/projects/${ids.project}`), expected.project);
    assertIncludes(await get(`${base}/projects/${ids.project}/allocations/${ids.allocation}`), expected.allocation);
    assertIncludes(await get(`${base}/quotas`), expected.quotas);
    assertIncludes(await get(`${base}/serviceaccounts/${ids.serviceAccount}`), expected.serviceAccount);
    assertIncludes(await get(`${base}/oauth2providers/${ids.identityProvider}`), expected.identityProvider);
    assertIncludes(await get(`${base}/applications/${ids.application}`), expected.application);
    // What was deleted stays deleted.
    assert.equal((await server.api(`${base}/users/${ids.deletedUser}`)).status, 404);
    assert.equal((await server.api(`${base}/projects/${ids.deletedProject}`)).status, 404);
    const users = (await get(`${base}/users`)) as Array<{ metadata: { id: string } }>;
    assert.deepEqual(users.map((u) => u.metadata.id).sort(), [ids.alice, ids.bob].sort());
  });

  test("the fixture's user signs in with the password chosen after the reset, not the one before", async () => {
    const { login } = manifest;
    const client = { clientId: login.clientId, secret: login.clientSecret };
    const attempt = (password: string) => {
      const { verifier, challenge } = pkcePair();
      const url = authorizationUrl(server, {
        response_type: 'code',
        client_id: login.clientId,
        redirect_uri: login.redirectUri,
        scope: 'openid email offline_access',
        state: 'fixture-test',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      return { verifier, result: submitLogin(url, login.email, password) };
    };
    assert.equal((await attempt(login.passwordBeforeReset).result).response.status, 200);
    const { verifier, result } = attempt(login.password);
    const { response, html } = await result;
    assert.equal(response.status, 302, html);
    const code = new URL(response.headers.get('location')!).searchParams.get('code')!;
    const tokens = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: login.redirectUri, code_verifier: verifier }, client);
    assert.equal(tokens.status, 200, await tokens.clone().text());
    const { access_token, refresh_token } = (await tokens.json()) as { access_token: string; refresh_token: string };
    const userinfo = await userinfoRequest(server, access_token);
    assert.equal(userinfo.status, 200);
    assert.equal(((await userinfo.json()) as { email: string }).email, login.email);
    const refreshed = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token }, client);
    assert.equal(refreshed.status, 200, await refreshed.clone().text());
    assert.equal((await tokenRequest(server, { grant_type: 'client_credentials' }, client)).status, 200);
  });

  test('commands work on the old streams: a user, a group and the quotas change', async () => {
    const { ids } = manifest;
    const bob = (await get(`${base}/users/${ids.bob}`)) as any;
    const put = await server.api(`${base}/users/${ids.bob}`, {
      method: 'PUT',
      json: { metadata: { name: bob.metadata.name, description: 'changed by a later version' }, spec: { subject: bob.spec.subject, state: 'suspended', groupIDs: bob.spec.groupIDs } },
    });
    assert.equal(put.status, 200, await put.clone().text());
    const group = (await get(`${base}/groups/${ids.readers}`)) as any;
    const groupPut = await server.api(`${base}/groups/${ids.readers}`, {
      method: 'PUT',
      json: { metadata: { name: group.metadata.name }, spec: { ...group.spec, userIDs: [ids.alice, ids.bob] } },
    });
    assert.equal(groupPut.status, 200, await groupPut.clone().text());
    const quotas = await server.api(`${base}/quotas`, { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 40 }] } });
    assert.equal(quotas.status, 200, await quotas.clone().text());
    assert.equal(((await get(`${base}/users/${ids.bob}`)) as any).spec.state, 'suspended');
  });
});
