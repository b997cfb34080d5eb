import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  closeProject,
  createAllocation,
  type LedgerState,
  type LiveAllocation,
  type QuotaKind,
  QuotaExceededError,
  resourceLedgerDecider,
  updateAllocation,
  usageOf,
} from '../../src/domain/resource-ledger/decider.js';
import type { ResourceLedgerEvent } from '../../src/domain/resource-ledger/events.js';
import { ConflictError } from '../../src/domain/shared/errors.js';

/** A long ledger: the fold keeps its indexes right, whatever the history. */
const organizationId = 'org-1';
const kinds: QuotaKind[] = [
  { kind: 'servers', displayName: 'Servers', description: 'Servers.', default: 1_000_000 },
  { kind: 'gpus', displayName: 'GPUs', description: 'GPUs.', default: 0 },
];
const spec = (servers: number) => ({ kind: 'cluster', id: 'c', allocations: [{ kind: 'servers', committed: servers, reserved: 1 }] });
const event = (type: 'allocation.created' | 'allocation.updated', n: number, servers: number, name = `a-${n}`): ResourceLedgerEvent => ({
  type,
  data: { organizationId, projectId: `p-${n % 10}`, allocationId: `id-${n}`, name, tags: [], spec: spec(servers) },
});

/** 10,000 events: creates in ten projects, every third one updated (renamed, resized), every seventh deleted. */
function history(): ResourceLedgerEvent[] {
  const events: ResourceLedgerEvent[] = [{ type: 'quotas.updated', data: { organizationId, quotas: [{ kind: 'gpus', quantity: 4 }] } }];
  for (let n = 0; events.length < 10_000; n++) {
    events.push(event('allocation.created', n, n % 5));
    if (n % 3 === 0) events.push(event('allocation.updated', n, 7, `renamed-${n}`));
    if (n % 7 === 0) events.push({ type: 'allocation.deleted', data: { organizationId, projectId: `p-${n % 10}`, allocationId: `id-${n}` } });
  }
  return events.slice(0, 10_000);
}

/** The same state computed the slow, obvious way: the expected values. */
function bruteForce(events: ResourceLedgerEvent[]) {
  const live = new Map<string, LiveAllocation>();
  for (const e of events) {
    if (e.type === 'allocation.created' || e.type === 'allocation.updated') live.set(e.data.allocationId, { projectId: e.data.projectId, name: e.data.name, tags: e.data.tags, spec: e.data.spec });
    if (e.type === 'allocation.deleted') live.delete(e.data.allocationId);
  }
  let servers = 0;
  for (const a of live.values()) for (const amount of a.spec.allocations) servers += amount.committed + amount.reserved;
  return { live, servers };
}

describe('resource ledger over a long history', () => {
  const events = history();
  const fold = (list: ResourceLedgerEvent[]): LedgerState => list.reduce(resourceLedgerDecider.evolve, resourceLedgerDecider.initialState());

  test('evolve updates the state in place: the fold allocates no new state per event', () => {
    const state = resourceLedgerDecider.initialState();
    for (const e of events.slice(0, 100)) assert.equal(resourceLedgerDecider.evolve(state, e), state);
  });

  test('after 10,000 events: the live allocations, the usage and the indexes are those of the history', () => {
    const state = fold(events);
    const expected = bruteForce(events);
    assert.deepEqual([...state.allocations.keys()], [...expected.live.keys()], 'live allocations, in creation order');
    assert.equal(usageOf(state, 'servers'), expected.servers);
    assert.equal(state.quotas.get('gpus'), 4);
    const perProject = new Map<string, number>();
    for (const a of expected.live.values()) perProject.set(a.projectId, (perProject.get(a.projectId) ?? 0) + 1);
    assert.deepEqual(new Map([...state.byProject].map(([p, ids]) => [p, ids.size])), perProject);
    assert.equal(state.names.size, expected.live.size, 'one name per live allocation');
  });

  test('after 10,000 events the decisions see every allocation: names, quotas, projects', () => {
    const state = fold(events);
    const renamedLive = [...state.allocations.entries()].find(([, a]) => a.name.startsWith('renamed-'))!;
    const [renamedId, renamed] = renamedLive;
    const n = Number(renamedId.slice(3));
    // The new name is taken, the old one free again.
    assert.throws(
      () => createAllocation(state, { organizationId, projectId: renamed.projectId, allocationId: 'new-1', name: renamed.name.toUpperCase(), tags: [], spec: spec(1) }, kinds),
      ConflictError,
    );
    assert.deepEqual(
      createAllocation(state, { organizationId, projectId: renamed.projectId, allocationId: 'new-2', name: `a-${n}`, tags: [], spec: spec(1) }, kinds).length,
      1,
    );
    // A deleted allocation's name is free.
    assert.equal(createAllocation(state, { organizationId, projectId: 'p-0', allocationId: 'new-3', name: 'a-0', tags: [], spec: spec(1) }, kinds).length, 1);
    // The gpu quota is 4: an update to 5 is refused, to 4 accepted.
    const gpus = (count: number) => ({ kind: 'cluster', id: 'c', allocations: [{ kind: 'gpus', committed: count, reserved: 0 }] });
    assert.throws(() => updateAllocation(state, { organizationId, projectId: renamed.projectId, allocationId: renamedId, name: renamed.name, tags: [], spec: gpus(5) }, kinds), QuotaExceededError);
    assert.equal(updateAllocation(state, { organizationId, projectId: renamed.projectId, allocationId: renamedId, name: renamed.name, tags: [], spec: gpus(4) }, kinds).length, 1);
    // Closing a project releases exactly its live allocations, in creation order.
    const released = closeProject(state, { organizationId, projectId: 'p-3' });
    const expectedIds = [...state.allocations].filter(([, a]) => a.projectId === 'p-3').map(([id]) => id);
    assert.deepEqual(released.slice(0, -1).map((e) => (e.data as { allocationId: string }).allocationId), expectedIds);
    assert.equal(released.at(-1)!.type, 'resource_ledger.project_closed');
  });

  test('a snapshot restores the same state, indexes included', () => {
    const state = fold(events);
    const policy = resourceLedgerDecider.snapshot;
    const chunks = [...policy.encode(state)].map((chunk) => JSON.parse(JSON.stringify(chunk)));
    assert.ok(chunks.length > 2, 'the allocations are spread over bounded chunks');
    const restored = chunks.reduce(policy.restore, resourceLedgerDecider.initialState());
    assert.deepEqual(restored, state);
  });
});
