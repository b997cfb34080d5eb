import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { verifyExport } from '../../src/infra/ledger/verifier.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { created, serviceAccountWithRoles } from '../support/tenants.js';

/**
 * Issue 11's "done when", as an auditor with only the `auditor` role runs it
 * over HTTP and with the CLI: who changed this group's roles, when, and what
 * exactly; what did the organization look like on a date; what could this
 * person do then; all of it exported as NDJSON and CSV. Then issue 12's: a
 * person erased, and the whole log's export still verifies against the tree
 * heads kept before and after.
 */
const AUDIT_CLI = fileURLToPath(new URL('../../scripts/audit.js', import.meta.url));
const run = promisify(execFile);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('an auditor answers the questions of an audit', () => {
  let server: TestServer;
  const temp = tempDir();
  let base: string;
  let organizationId: string;
  let auditor: { token: string };
  let admin: { token: string; serviceAccountId: string };
  let groupId: string;
  let userId: string;
  let before_: string;
  const email = `zq9-audited-${Date.now().toString(36)}@example.com`;
  const as = (token: string) => ({ token });

  before(async () => {
    server = await startTestServer();
    const org = await created(server, '/api/v1/organizations', { metadata: { name: `audited-${Date.now().toString(36)}` }, spec: { organizationType: 'adhoc' } });
    organizationId = org.metadata.id;
    base = `/api/v1/organizations/${organizationId}`;
    admin = await serviceAccountWithRoles(server, organizationId, ['administrator']);
    auditor = await serviceAccountWithRoles(server, organizationId, ['auditor']);
    const user = await created(server, `${base}/users`, { metadata: { name: 'audited-person' }, spec: { subject: email, state: 'active', groupIDs: [] } }, admin.token);
    userId = user.metadata.id;
    const group = await created(server, `${base}/groups`, { metadata: { name: 'operators' }, spec: { roleIDs: ['reader'], userIDs: [userId], serviceAccountIDs: [] } }, admin.token);
    groupId = group.metadata.id;
    await pause(20);
    before_ = new Date().toISOString();
    await pause(20);
    // The change under audit: the administrator's robot makes the group administrators.
    const put = await server.api(`${base}/groups/${groupId}`, {
      method: 'PUT',
      token: admin.token,
      json: { metadata: { name: 'operators' }, spec: { roleIDs: ['administrator'], userIDs: [userId], serviceAccountIDs: [] } },
    });
    assert.equal(put.status, 200, await put.text());
  });
  after(async () => {
    await server?.close();
    temp.remove();
  });

  test('who changed the group’s roles, when, and what exactly changed', async () => {
    const events = await server.api(`${base}/events?resource=${groupId}&type=group.*&order=asc`, as(auditor.token));
    assert.equal(events.status, 200, await events.clone().text());
    const { items } = (await events.json()) as { items: any[] };
    const change = items.at(-1);
    assert.ok(change && change.type !== 'group.created', JSON.stringify(items.map((i) => i.type)));
    assert.equal(change.actor.kind, 'service_account');
    assert.ok(change.actor.name, 'the actor is named');
    assert.ok(Date.parse(change.time) >= Date.parse(before_));

    const history = await server.api(`${base}/groups/${groupId}/history`, as(auditor.token));
    assert.equal(history.status, 200, await history.clone().text());
    const versions = ((await history.json()) as { items: any[] }).items;
    const last = versions.at(-1)!;
    assert.equal(last.actor.kind, 'service_account');
    const roleOps = last.changes.filter((op: any) => String(op.path).includes('roleIDs'));
    assert.ok(roleOps.length > 0, JSON.stringify(last.changes));
    assert.ok(JSON.stringify(roleOps).includes('administrator'), JSON.stringify(roleOps));
  });

  test('what the organization looked like on a date, and what the person could do then', async () => {
    const then = await server.api(`${base}/groups/${groupId}?asOf=${before_}`, as(auditor.token));
    assert.equal(then.status, 200, await then.clone().text());
    assert.deepEqual(((await then.json()) as any).spec.roleIDs, ['reader']);
    const list = await server.api(`${base}/groups?asOf=${before_}`, as(auditor.token));
    assert.equal(list.status, 200);
    assert.ok(JSON.stringify(await list.json()).includes('"reader"'));

    const operations = (acl: any, family: string): string[] => acl.organization.endpoints.find((e: any) => e.name === family)?.operations ?? [];
    const aclThen = (await (await server.api(`${base}/acl?subject=${userId}&asOf=${before_}`, as(auditor.token))).json()) as any;
    const aclNow = (await (await server.api(`${base}/acl?subject=${userId}`, as(auditor.token))).json()) as any;
    assert.deepEqual(operations(aclThen, 'identity:users'), ['read']);
    assert.ok(operations(aclNow, 'identity:users').includes('delete'), JSON.stringify(aclNow.organization.endpoints));
  });

  test('the auditor reads and exports but changes nothing; NDJSON, CSV and the CLI agree', async () => {
    const refused = await server.api(`${base}/groups/${groupId}`, { method: 'DELETE', token: auditor.token });
    assert.equal(refused.status, 403);

    const ndjson = await server.api(`${base}/events?order=asc`, { token: auditor.token, headers: { accept: 'application/x-ndjson' } });
    assert.equal(ndjson.status, 200);
    const lines = (await ndjson.text()).trim().split('\n').map((line) => JSON.parse(line));
    assert.ok(lines.some((line) => line.resource.id === groupId));
    const csv = await server.api(`${base}/events?order=asc`, { token: auditor.token, headers: { accept: 'text/csv' } });
    assert.equal(csv.status, 200);
    const rows = (await csv.text()).trim().split('\n');
    assert.ok(rows[0]!.startsWith('position,'));

    const out = join(temp.path, 'cli.ndjson');
    await run(process.execPath, [AUDIT_CLI, 'export', '--org', organizationId, '--format', 'ndjson', '--out', out], {
      env: { ...process.env, AUDIT_URL: server.baseUrl, AUDIT_TOKEN: auditor.token },
    });
    const cli = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    // The CLI's export is the same history (the exports themselves are recorded between the two reads).
    const positions = new Set(cli.map((line) => line.position));
    for (const line of lines) assert.ok(positions.has(line.position), line.position);
  });

  test('an erased person: [erased] in the audit log, and the export of the whole log still verifies against the heads kept before and after', async () => {
    const jwks = await (await fetch(`${server.baseUrl}/oauth2/v2/jwks`)).json();
    await server.service.ledger.heads.sign();
    const keptBefore = await (await server.api('/api/v1/audit/tree-head')).json();
    const erased = await server.api(`${base}/users/${userId}/erasure`, { method: 'POST' });
    assert.equal(erased.status, 200, await erased.clone().text());
    await server.service.ledger.heads.sign();
    const keptAfter = await (await server.api('/api/v1/audit/tree-head')).json();

    const entries = ((await (await server.api(`${base}/events?resource=${userId}&order=asc`)).json()) as { items: any[] }).items;
    const createdEntry = entries.find((entry) => entry.type === 'user.created');
    assert.equal(createdEntry.data.subject, '[erased]');
    assert.ok(createdEntry.stored, 'the stored (sealed) form is beside it');

    const whole = await server.api('/api/v1/events?order=asc', { headers: { accept: 'application/x-ndjson' } });
    const text = await whole.text();
    assert.ok(!text.includes(email), 'no trace of the email in the export');
    const file = join(temp.path, 'whole.ndjson');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, text);
    const report = await verifyExport({ file, jwks: jwks as any, keptHeads: [keptBefore as any, keptAfter as any] });
    assert.equal(report.ok, true, JSON.stringify(report.firstDifference));
    assert.ok(report.recomputed > 0);

    // A changed line is caught.
    const tampered = text.replace('"operators"', '"0perators"');
    assert.notEqual(tampered, text);
    writeFileSync(file, tampered);
    const caught = await verifyExport({ file, jwks: jwks as any, keptHeads: [keptAfter as any] });
    assert.equal(caught.ok, false);
  });
});
