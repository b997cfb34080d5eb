/**
 * Time-travel timing (`node dist/scripts/bench-time-travel.js [--events 10000]`):
 * one organization with about that many events (users, groups and group
 * updates made through the API of an in-process service with the scanning
 * audit log), then the time of asOf reads: a list (cold: the state is
 * replayed; warm: kept), one resource, a resource's history, and the heap a
 * kept past state takes. Figures for docs/time-travel.md; not a test.
 */
import { performance } from 'node:perf_hooks';
import { startTestServer } from '../test/support/server.js';
import { attribute } from '../src/domain/audit/attribution.js';
import type { AuditLog, AuditQuery, AuditRecord } from '../src/ports/audit-log.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { TimeTravel } from '../src/projections/time-travel.js';
import { PROJECTIONS } from '../src/service.js';

/** The log in an array, attributed once: to time the replay alone, without the scanning audit log's reads. */
function arrayAuditLog(events: readonly RecordedEvent[]): AuditLog {
  const records: AuditRecord[] = events.map((event) => ({ ...attribute(event), event, actorName: null }));
  const matching = (query: AuditQuery) =>
    records.filter((r) => (query.organizationId === undefined || r.organizationId === query.organizationId) && (query.atOrBefore === undefined || r.event.position.commit <= query.atOrBefore));
  return {
    page: async (query, limit) => (query.order === 'asc' ? matching(query).slice(0, limit) : matching(query).reverse().slice(0, limit)),
    records: (query) => (async function* () { yield* matching(query); })(),
    indexedPosition: async () => records.at(-1)?.event.position.commit,
    waitFor: async () => {},
    close: async () => {},
  };
}

const arg = (name: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};

async function main(): Promise<void> {
  const target = Number(arg('--events') ?? 10_000);
  const server = await startTestServer({ env: { LOG_LEVEL: 'warn', TIME_TRAVEL_CACHED_MODELS: '4' } });
  try {
    const json = async (path: string, init: Parameters<typeof server.api>[1] = {}) => {
      const response = await server.api(path, init);
      if (response.status >= 300) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${await response.text()}`);
      return response.status === 200 || response.status === 201 || response.status === 202 ? response.json().catch(() => undefined) : undefined;
    };
    const org = (await json('/api/v1/organizations', { method: 'POST', json: { metadata: { name: `bench-${Date.now().toString(36)}` }, spec: { organizationType: 'adhoc' } } })) as any;
    const base = `/api/v1/organizations/${org.metadata.id}`;
    const users: string[] = [];
    for (let i = 0; i < 100; i++) {
      users.push(((await json(`${base}/users`, { method: 'POST', json: { metadata: { name: `u${i}` }, spec: { subject: `u${i}-${Date.now()}@example.com`, state: 'active', groupIDs: [] } } })) as any).metadata.id);
    }
    const groups: string[] = [];
    for (let i = 0; i < 50; i++) {
      groups.push(((await json(`${base}/groups`, { method: 'POST', json: { metadata: { name: `g${i}` }, spec: { roleIDs: ['reader'], userIDs: [], serviceAccountIDs: [] } } })) as any).metadata.id);
    }
    const middle = new Date().toISOString();
    const started = performance.now();
    let updates = 0;
    const remaining = Math.max(0, target - 300);
    const worker = async (w: number) => {
      for (let i = w; i < remaining; i += 4) {
        const g = groups[i % groups.length]!;
        await json(`${base}/groups/${g}`, {
          method: 'PUT',
          json: { metadata: { name: `g${i % groups.length}`, description: `update ${i}` }, spec: { roleIDs: ['reader'], userIDs: [users[i % users.length]!], serviceAccountIDs: [] } },
        });
        updates++;
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    const history = (await json(`${base}/groups/${groups[0]}/history?limit=1000`)) as any;
    const events = (await server.service.stores.events.headPosition())!.commit;
    process.stderr.write(`made ${updates} group updates in ${((performance.now() - started) / 1000).toFixed(1)} s; log head ${events}\n`);

    const timed = async (path: string) => {
      const t = performance.now();
      await json(path);
      return performance.now() - t;
    };
    const now = new Date().toISOString();
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const coldList = await timed(`${base}/groups?asOf=${now}`);
    global.gc?.();
    const heapAfter = process.memoryUsage().heapUsed;
    const warmList = await timed(`${base}/groups?asOf=${now}`);
    const warmOne = await timed(`${base}/groups/${groups[1]}?asOf=${now}`);
    const coldMiddle = await timed(`${base}/users?asOf=${middle}`);
    const historyPage = await timed(`${base}/groups/${groups[0]}/history?limit=100`);
    const userHistory = await timed(`${base}/users/${users[0]}/history?limit=100`);
    const live = await timed(`${base}/groups`);
    console.log(`| organization events (log head) | ${events} |`);
    console.log(`| asOf list of groups, cold (replay ${events} events) | ${coldList.toFixed(1)} ms |`);
    console.log(`| asOf list of groups, warm (kept state) | ${warmList.toFixed(1)} ms |`);
    console.log(`| asOf one group, warm | ${warmOne.toFixed(1)} ms |`);
    console.log(`| asOf list of users, cold, a moment before the updates | ${coldMiddle.toFixed(1)} ms |`);
    console.log(`| history of a group (${history.items.length} versions), first page of 100 | ${historyPage.toFixed(1)} ms |`);
    console.log(`| history of a user (its groups' events folded too), first page | ${userHistory.toFixed(1)} ms |`);
    console.log(`| live list of groups, for comparison | ${live.toFixed(1)} ms |`);
    // The replay alone: every event of the log read once into memory, then one past state built from it.
    const all: RecordedEvent[] = [];
    for (let after: RecordedEvent['position'] | undefined; ; ) {
      const page = await server.service.stores.events.readAll({ ...(after && { after }), maxCount: 5000 });
      all.push(...page);
      if (page.length < 5000) break;
      after = page[page.length - 1]!.position;
    }
    const replay = new TimeTravel(arrayAuditLog(all), PROJECTIONS, { maxEvents: 10_000_000, cachedModels: 0 });
    const t = performance.now();
    const built = await replay.at(org.metadata.id, { asOfPosition: events });
    const replayMs = performance.now() - t;
    console.log(`| replay alone (events in memory, ${built.events} events through ${PROJECTIONS.length} projections) | ${replayMs.toFixed(1)} ms, ${((replayMs * 1000) / built.events).toFixed(1)} µs per event |`);
    if (global.gc) console.log(`| heap of one kept past state | ${((heapAfter - heapBefore) / 1024 / 1024).toFixed(1)} MiB |`);
  } finally {
    await server.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
