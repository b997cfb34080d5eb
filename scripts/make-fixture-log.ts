/**
 * Writes a small event log the way the service writes it, for the fixture-log
 * test (test/api/fixture-log.test.ts): it drives a real service through its
 * API (an organization, users, a group, projects, quotas, an allocation, a
 * service account, an identity provider, an application, logins with tokens,
 * a refresh, a password reset and the forced change after it, deletions),
 * then exports every event as JSON lines and records, in manifest.json, the
 * ids, the credentials the test signs in with, and what the API answered
 * about each resource at the end.
 *
 *   npm run build && node dist/scripts/make-fixture-log.js test/fixtures/log-v2
 *
 * A committed fixture is never regenerated: it stands for the logs of its
 * time. A new one (log-v2, ...) is added beside it when event shapes change.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SqliteEventStore } from '../src/infra/sqlite/sqlite-event-store.js';
import { authorizationUrl, hiddenField, pkcePair, submitLogin, tokenRequest, userinfoRequest } from '../test/support/oidc.js';
import { eventually, startTestServer, type TestServer } from '../test/support/server.js';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const FIRST_PASSWORD = 'fixture password number one';
const CHOSEN_PASSWORD = 'fixture password chosen after the reset';

async function json(server: TestServer, path: string, init: Parameters<TestServer['api']>[1] = {}, expected = [200, 201, 202]): Promise<any> {
  const response = await server.api(path, init);
  const text = await response.text();
  assert.ok(expected.includes(response.status), `${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Sign in through the login form and exchange the code: the confidential client, client_secret_basic. */
async function codeFlow(server: TestServer, client: { clientId: string; secret: string }, email: string, password: string, organization?: string) {
  const { verifier, challenge } = pkcePair();
  const url = authorizationUrl(server, {
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile offline_access',
    state: 'fixture',
    nonce: 'fixture-nonce',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const { response, html } = await submitLogin(url, email, password, organization ? { organization } : {});
  return { response, html, verifier };
}

async function exchange(server: TestServer, client: { clientId: string; secret: string }, location: string, verifier: string) {
  const code = new URL(location).searchParams.get('code');
  assert.ok(code, `no code in ${location}`);
  const response = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }, client);
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as { access_token: string; refresh_token: string };
}

async function main(): Promise<void> {
  const outDir = resolve(process.argv[2] ?? 'test/fixtures/log-new');
  const server = await startTestServer();
  let stopped = false;
  try {
    const orgName = 'fixture-org';
    const org = await json(server, '/api/v1/organizations', { method: 'POST', json: { metadata: { name: orgName, description: 'the fixture log', tags: [{ name: 'tier', value: 'gold' }] }, spec: { organizationType: 'adhoc' } } });
    const orgId = org.metadata.id as string;
    const base = `/api/v1/organizations/${orgId}`;
    await eventually(async () => (await json(server, base)).metadata.provisioningStatus === 'provisioned');

    const alice = await json(server, `${base}/users`, { method: 'POST', json: { metadata: { name: 'alice' }, spec: { subject: 'alice@fixture.example', state: 'active', groupIDs: [], password: FIRST_PASSWORD } } });
    const bob = await json(server, `${base}/users`, { method: 'POST', json: { metadata: { name: 'bob', description: 'pending' }, spec: { subject: 'bob@fixture.example', state: 'pending', groupIDs: [] } } });
    const gone = await json(server, `${base}/users`, { method: 'POST', json: { metadata: { name: 'carol' }, spec: { subject: 'carol@fixture.example', state: 'active', groupIDs: [] } } });
    await json(server, `${base}/users/${bob.metadata.id}`, { method: 'PUT', json: { metadata: { name: 'bob', description: 'now active' }, spec: { subject: 'bob@fixture.example', state: 'active', groupIDs: [] } } });

    const robot = await json(server, `${base}/serviceaccounts`, { method: 'POST', json: { metadata: { name: 'robot' }, spec: {} } });
    await json(server, `${base}/serviceaccounts/${robot.metadata.id}/rotate`, { method: 'POST' });

    const group = await json(server, `${base}/groups`, {
      method: 'POST',
      json: { metadata: { name: 'engineers' }, spec: { roleIDs: ['user'], userIDs: [alice.metadata.id, bob.metadata.id, gone.metadata.id], serviceAccountIDs: [robot.metadata.id] } },
    });
    const readers = await json(server, `${base}/groups`, { method: 'POST', json: { metadata: { name: 'readers' }, spec: { roleIDs: ['reader'], userIDs: [bob.metadata.id] } } });

    const project = await json(server, `${base}/projects`, { method: 'POST', json: { metadata: { name: 'apollo' }, spec: { groupIDs: [group.metadata.id] } } });
    const doomed = await json(server, `${base}/projects`, { method: 'POST', json: { metadata: { name: 'doomed' }, spec: { groupIDs: [readers.metadata.id] } } });
    await eventually(async () => (await json(server, `${base}/projects/${project.metadata.id}`)).metadata.provisioningStatus === 'provisioned');

    await json(server, `${base}/quotas`, { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 30 }, { kind: 'gpus', quantity: 2 }] } });
    const allocation = await json(server, `${base}/projects/${project.metadata.id}/allocations`, {
      method: 'POST',
      json: { metadata: { name: 'cluster-a' }, spec: { kind: 'cluster', id: 'cluster-a', allocations: [{ kind: 'servers', committed: 3, reserved: 1 }, { kind: 'gpus', committed: 1, reserved: 0 }] } },
    });
    const doomedAllocation = await json(server, `${base}/projects/${doomed.metadata.id}/allocations`, {
      method: 'POST',
      json: { metadata: { name: 'cluster-b' }, spec: { kind: 'cluster', id: 'cluster-b', allocations: [{ kind: 'servers', committed: 1, reserved: 0 }] } },
    });

    const provider = await json(server, `${base}/oauth2providers`, {
      method: 'POST',
      json: { metadata: { name: 'google-idp' }, spec: { type: 'google', issuer: 'https://accounts.google.com', clientID: 'fixture-client.apps.googleusercontent.com', clientSecret: 'fixture-idp-secret' } },
    });
    const application = await json(server, `${base}/applications`, {
      method: 'POST',
      json: { metadata: { name: 'console' }, spec: { redirectURIs: [REDIRECT_URI], grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], public: false, groupIDs: [group.metadata.id] } },
    });
    const client = { clientId: application.metadata.id as string, secret: application.status.clientSecret as string };

    // A login, a refresh, userinfo, and the client's own token.
    const first = await codeFlow(server, client, 'alice@fixture.example', FIRST_PASSWORD);
    assert.equal(first.response.status, 302, first.html);
    const tokens = await exchange(server, client, first.response.headers.get('location')!, first.verifier);
    const refreshed = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, client);
    assert.equal(refreshed.status, 200, await refreshed.clone().text());
    assert.equal((await userinfoRequest(server, ((await refreshed.json()) as { access_token: string }).access_token)).status, 200);
    assert.equal((await tokenRequest(server, { grant_type: 'client_credentials' }, client)).status, 200);
    // A failed login.
    assert.equal((await codeFlow(server, client, 'alice@fixture.example', 'not her password')).response.status, 200);

    // An administrator's reset, then the forced change at the next login.
    const { tempPassword } = await json(server, `${base}/users/${alice.metadata.id}/password`, { method: 'POST' });
    const afterReset = await codeFlow(server, client, 'alice@fixture.example', tempPassword);
    assert.equal(afterReset.response.status, 200);
    assert.match(afterReset.html!, /name="new_password"/);
    const changed = await fetch(`${server.baseUrl}/oauth2/v2/login/password`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ state: hiddenField(afterReset.html!, 'state')!, ticket: hiddenField(afterReset.html!, 'ticket')!, new_password: CHOSEN_PASSWORD, confirm_password: CHOSEN_PASSWORD }),
    });
    assert.equal(changed.status, 302, await changed.clone().text());
    await exchange(server, client, changed.headers.get('location')!, afterReset.verifier);

    // Deletions: a user, a project with its allocation (asynchronous), an allocation.
    await json(server, `${base}/users/${gone.metadata.id}`, { method: 'DELETE' }, [200, 202, 204]);
    await json(server, `${base}/projects/${doomed.metadata.id}`, { method: 'DELETE' }, [200, 202, 204]);
    await eventually(async () => (await server.api(`${base}/projects/${doomed.metadata.id}`)).status === 404, 15_000);
    assert.equal((await server.api(`${base}/projects/${doomed.metadata.id}/allocations/${doomedAllocation.metadata.id}`)).status, 404);

    // Let the process managers finish, then record what the API answers.
    await new Promise((r) => setTimeout(r, 1500));
    const expected = {
      organization: await json(server, base),
      users: Object.fromEntries(await Promise.all([alice, bob].map(async (u) => [u.metadata.name, await json(server, `${base}/users/${u.metadata.id}`)]))),
      groups: Object.fromEntries(await Promise.all([group, readers].map(async (g) => [g.metadata.name, await json(server, `${base}/groups/${g.metadata.id}`)]))),
      project: await json(server, `${base}/projects/${project.metadata.id}`),
      allocation: await json(server, `${base}/projects/${project.metadata.id}/allocations/${allocation.metadata.id}`),
      quotas: await json(server, `${base}/quotas`),
      serviceAccount: await json(server, `${base}/serviceaccounts/${robot.metadata.id}`),
      identityProvider: await json(server, `${base}/oauth2providers/${provider.metadata.id}`),
      application: await json(server, `${base}/applications/${application.metadata.id}`),
    };
    const manifest = {
      about: 'Written by scripts/make-fixture-log.ts through the API; see test/api/fixture-log.test.ts.',
      writtenAt: new Date().toISOString(),
      organization: { id: orgId, name: orgName },
      ids: {
        alice: alice.metadata.id,
        bob: bob.metadata.id,
        deletedUser: gone.metadata.id,
        engineers: group.metadata.id,
        readers: readers.metadata.id,
        project: project.metadata.id,
        deletedProject: doomed.metadata.id,
        allocation: allocation.metadata.id,
        deletedAllocation: doomedAllocation.metadata.id,
        serviceAccount: robot.metadata.id,
        identityProvider: provider.metadata.id,
        application: application.metadata.id,
      },
      // Test credentials only: what the fixture's login uses.
      login: { email: 'alice@fixture.example', password: CHOSEN_PASSWORD, passwordBeforeReset: FIRST_PASSWORD, clientId: client.clientId, clientSecret: client.secret, redirectUri: REDIRECT_URI },
      expected,
    };

    await server.stop();
    stopped = true;
    const store = new SqliteEventStore(join(server.dataDir, 'events.sqlite'));
    const events = await store.readAll({ maxCount: 1_000_000 });
    await store.close();
    mkdirSync(outDir, { recursive: true });
    const lines = events.map((event) => JSON.stringify({ streamName: event.streamName, revision: event.revision, type: event.type, data: event.data, metadata: event.metadata }));
    writeFileSync(join(outDir, 'events.jsonl'), lines.join('\n') + '\n');
    writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    console.log(`wrote ${events.length} events to ${join(outDir, 'events.jsonl')}`);
  } finally {
    if (stopped) rmSync(server.dataDir, { recursive: true, force: true });
    else await server.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
