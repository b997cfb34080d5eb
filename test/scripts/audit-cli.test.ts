import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server.js';
import { populatedOrganization } from '../support/tenants.js';
import { tempDir } from '../support/temp.js';

const AUDIT = fileURLToPath(new URL('../../scripts/audit.js', import.meta.url));
const run = promisify(execFile);
const cli = (args: string[], env: Record<string, string> = {}) => run(process.execPath, [AUDIT, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 * 2 ** 20 });
const cliFails = async (args: string[], env: Record<string, string> = {}) => {
  try {
    await cli(args, env);
  } catch (error) {
    return error as { code: number; stderr: string };
  }
  assert.fail(`${args.join(' ')} should have failed`);
};

describe('npm run audit: the command-line tool', () => {
  let server: TestServer;
  let org: Awaited<ReturnType<typeof populatedOrganization>>;
  const out = tempDir();
  const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, any>);

  before(async () => {
    server = await startTestServer();
    org = await populatedOrganization(server, 'cli');
    await populatedOrganization(server, 'cli-other');
  });
  after(async () => {
    await server.close();
    out.remove();
  });

  test('over HTTP: export (NDJSON, CSV, filtered) and one page of events; offline from the data directory, the same entries', async () => {
    const env = { AUDIT_URL: server.baseUrl, AUDIT_TOKEN: ADMIN_TOKEN };
    const api = (await (await server.api(`/api/v1/organizations/${org.organizationId}/events?order=asc&limit=1000`)).json()) as { items: Array<Record<string, any>> };

    const ndjson = join(out.path, 'org.ndjson');
    await cli(['export', '--org', org.organizationId, '--format', 'ndjson', '--out', ndjson], env);
    const exported = lines(ndjson);
    assert.deepEqual(exported, api.items, 'the same entries as the API, oldest first');
    assert.equal((statSync(ndjson).mode & 0o777).toString(8), '600');

    const csv = join(out.path, 'org.csv');
    await cli(['export', '--org', org.organizationId, '--type', 'group.*', '--type', 'user.created', '--format', 'csv', '--out', csv], env);
    const rows = readFileSync(csv, 'utf8').split('\r\n').filter(Boolean);
    assert.match(rows[0]!, /^position,id,time,type,/);
    assert.equal(rows.length - 1, api.items.filter((e) => e.type.startsWith('group.') || e.type === 'user.created').length);

    const { stdout } = await cli(['events', '--org', org.organizationId, '--limit', '2', '--type', 'group.*'], env);
    const page = JSON.parse(stdout) as { items: Array<Record<string, any>>; next: string | null };
    assert.equal(page.items.length, 2);
    assert.ok(page.next);
    const { stdout: second } = await cli(['events', '--org', org.organizationId, '--limit', '2', '--type', 'group.*', '--cursor', page.next], env);
    assert.ok((JSON.parse(second) as { items: unknown[] }).items.length >= 1);

    // Bad input and a refused token: a clear message and a non-zero exit.
    assert.match((await cliFails(['events', '--org', org.organizationId, '--colour', 'red'], env)).stderr, /colour/);
    assert.match((await cliFails(['events', '--org', org.organizationId, '--resource-kind', 'spaceship'], env)).stderr, /resourceKind/);
    assert.match((await cliFails(['events', '--org', org.organizationId], { ...env, AUDIT_TOKEN: 'nope' })).stderr, /^401/);
    assert.match((await cliFails(['export', '--org', org.organizationId, '--format', 'ndjson'], { AUDIT_URL: '', AUDIT_TOKEN: '' })).stderr, /AUDIT_URL/);

    // The exports were recorded.
    const recorded = (await (await server.api(`/api/v1/organizations/${org.organizationId}/events?type=audit.exported`)).json()) as { items: Array<Record<string, any>> };
    assert.deepEqual(recorded.items.map((e) => [e.data.format, e.data.count]), [
      ['csv', rows.length - 1],
      ['ndjson', exported.length],
    ]);

    // Offline: the service stopped, its data directory read as it is.
    const everything = (await (await server.api(`/api/v1/organizations/${org.organizationId}/events?order=asc&limit=1000`)).json()) as { items: Array<Record<string, any>> };
    await server.stop();
    const offline = join(out.path, 'offline.ndjson');
    const { stderr } = await cli(['export', '--data-dir', server.dataDir, '--org', org.organizationId, '--format', 'ndjson', '--out', offline]);
    assert.match(stderr, new RegExp(`${everything.items.length} entries`));
    assert.deepEqual(lines(offline), everything.items, 'the same entries, leaf hashes, attribution and names as the service gives');
    const offlineCsv = join(out.path, 'offline.csv');
    await cli(['export', '--data-dir', server.dataDir, '--org', org.organizationId, '--type', 'group.*', '--type', 'user.created', '--format', 'csv', '--out', offlineCsv]);
    assert.deepEqual(readFileSync(offlineCsv, 'utf8'), readFileSync(csv, 'utf8'));
    assert.match((await cliFails(['export', '--data-dir', out.path, '--format', 'csv'])).stderr, /no event log/);
  });
});
