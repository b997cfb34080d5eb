import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  closeProject,
  createAllocation,
  deleteAllocation,
  QuotaExceededError,
  type QuotaKind,
  resourceLedgerDecider,
  setQuotas,
  updateAllocation,
  usageOf,
} from '../../src/domain/resource-ledger/decider.js';
import type { ResourceLedgerEvent } from '../../src/domain/resource-ledger/events.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(resourceLedgerDecider);
const kinds: QuotaKind[] = [
  { kind: 'servers', displayName: 'Servers', description: 'Servers.', default: 10 },
  { kind: 'gpus', displayName: 'GPUs', description: 'GPUs.', default: 0 },
];
const organizationId = 'org-1';
const servers = (committed: number, reserved = 0) => ({ kind: 'owner', id: 'cluster-1', allocations: [{ kind: 'servers', committed, reserved }] });
const allocation = (allocationId: string, spec: ReturnType<typeof servers>, projectId = 'p-1') => ({
  organizationId,
  projectId,
  allocationId,
  name: `alloc-${allocationId}`,
  tags: [],
  spec,
});
const created = (a: ReturnType<typeof allocation>): ResourceLedgerEvent => ({ type: 'allocation.created', data: a });
const quotasSet = (quantity: number): ResourceLedgerEvent => ({ type: 'quotas.updated', data: { organizationId, quotas: [{ kind: 'servers', quantity }] } });

describe('resource ledger decider', () => {
  test('an allocation within the quota is created', () => {
    const a = allocation('a1', servers(4, 2));
    given([]).when((s) => createAllocation(s, a, kinds)).then([created(a)]);
  });

  test('an allocation past the quota is refused, counting committed and reserved', () => {
    given([created(allocation('a1', servers(6)))])
      .when((s) => createAllocation(s, allocation('a2', servers(3, 2)), kinds))
      .thenThrows(QuotaExceededError, /servers: 11 would be allocated, the quota is 10 \(4 free\)/);
    // Exactly the quota is fine.
    const fits = allocation('a2', servers(2, 2));
    given([created(allocation('a1', servers(6)))]).when((s) => createAllocation(s, fits, kinds)).then([created(fits)]);
  });

  test('a kind at zero quota takes nothing; an explicit quota replaces the default', () => {
    const gpu = { ...allocation('a1', servers(0)), spec: { kind: 'owner', id: 'x', allocations: [{ kind: 'gpus', committed: 1, reserved: 0 }] } };
    given([]).when((s) => createAllocation(s, gpu, kinds)).thenThrows(QuotaExceededError, /gpus/);
    given([quotasSet(20)]).when((s) => createAllocation(s, allocation('a1', servers(15)), kinds)).then([created(allocation('a1', servers(15)))]);
  });

  test('unknown or repeated kinds are invalid', () => {
    const unknown = { ...allocation('a1', servers(1)), spec: { kind: 'o', id: 'x', allocations: [{ kind: 'tpus', committed: 1, reserved: 0 }] } };
    given([]).when((s) => createAllocation(s, unknown, kinds)).thenThrows(InvalidCommandError, /unknown resource kind "tpus"/);
    const twice = { ...allocation('a1', servers(1)), spec: { kind: 'o', id: 'x', allocations: [...servers(1).allocations, ...servers(1).allocations] } };
    given([]).when((s) => createAllocation(s, twice, kinds)).thenThrows(InvalidCommandError, /more than once/);
  });

  test('allocation names are unique within a project, not across projects', () => {
    const first = allocation('a1', servers(1));
    given([created(first)]).when((s) => createAllocation(s, { ...allocation('a2', servers(1)), name: first.name }, kinds)).thenThrows(ConflictError, /already exists/);
    const elsewhere = { ...allocation('a2', servers(1), 'p-2'), name: first.name };
    given([created(first)]).when((s) => createAllocation(s, elsewhere, kinds)).then([created(elsewhere)]);
  });

  test('an update is checked against the usage without its old amounts', () => {
    const a1 = allocation('a1', servers(6));
    given([created(a1)])
      .when((s) => updateAllocation(s, allocation('a1', servers(10)), kinds))
      .then([{ type: 'allocation.updated', data: allocation('a1', servers(10)) }]);
    given([created(a1)]).when((s) => updateAllocation(s, allocation('a1', servers(11)), kinds)).thenThrows(QuotaExceededError);
    given([created(a1)]).when((s) => updateAllocation(s, a1, kinds)).then([]);
  });

  test('shrinking is allowed even when usage is above a lowered default', () => {
    const lowered = kinds.map((k) => (k.kind === 'servers' ? { ...k, default: 2 } : k));
    given([created(allocation('a1', servers(6)))])
      .when((s) => updateAllocation(s, allocation('a1', servers(5)), lowered))
      .then([{ type: 'allocation.updated', data: allocation('a1', servers(5)) }]);
  });

  test('an allocation of another project, or none, is not found', () => {
    given([created(allocation('a1', servers(1)))]).when((s) => updateAllocation(s, allocation('a1', servers(1), 'p-2'), kinds)).thenThrows(NotFoundError);
    given([created(allocation('a1', servers(1)))]).when((s) => deleteAllocation(s, { organizationId, projectId: 'p-2', allocationId: 'a1' })).thenThrows(NotFoundError);
    given([]).when((s) => deleteAllocation(s, { organizationId, projectId: 'p-1', allocationId: 'a1' })).thenThrows(NotFoundError);
  });

  test('deleting frees the quota', () => {
    const ref = { organizationId, projectId: 'p-1', allocationId: 'a1' };
    const deleted: ResourceLedgerEvent = { type: 'allocation.deleted', data: ref };
    given([created(allocation('a1', servers(10)))]).when((s) => deleteAllocation(s, ref)).then([deleted]);
    const after = given([created(allocation('a1', servers(10))), deleted]);
    assert.equal(usageOf(after.state, 'servers'), 0);
    given([created(allocation('a1', servers(10))), deleted]).when((s) => createAllocation(s, allocation('a2', servers(10)), kinds)).then([created(allocation('a2', servers(10)))]);
  });

  test('quotas: set, refused below usage, unknown kinds invalid, no-op recorded as nothing', () => {
    given([]).when((s) => setQuotas(s, { organizationId, quotas: [{ kind: 'servers', quantity: 4 }] }, kinds)).then([quotasSet(4)]);
    given([created(allocation('a1', servers(3, 2)))])
      .when((s) => setQuotas(s, { organizationId, quotas: [{ kind: 'servers', quantity: 4 }] }, kinds))
      .thenThrows(ConflictError, /cannot be 4: 5 is allocated/);
    given([created(allocation('a1', servers(3, 2)))])
      .when((s) => setQuotas(s, { organizationId, quotas: [{ kind: 'servers', quantity: 5 }] }, kinds))
      .then([quotasSet(5)]);
    given([]).when((s) => setQuotas(s, { organizationId, quotas: [{ kind: 'cpus', quantity: 4 }] }, kinds)).thenThrows(InvalidCommandError, /cpus/);
    given([quotasSet(4)]).when((s) => setQuotas(s, { organizationId, quotas: [{ kind: 'servers', quantity: 4 }] }, kinds)).then([]);
  });

  test('closing a project releases its allocations, only once, and refuses new ones', () => {
    const mine = allocation('a1', servers(3));
    const other = allocation('a2', servers(3), 'p-2');
    const closed: ResourceLedgerEvent[] = [
      { type: 'allocation.deleted', data: { organizationId, projectId: 'p-1', allocationId: 'a1' } },
      { type: 'resource_ledger.project_closed', data: { organizationId, projectId: 'p-1' } },
    ];
    given([created(mine), created(other)]).when((s) => closeProject(s, { organizationId, projectId: 'p-1' })).then(closed);
    given([created(mine), created(other), ...closed]).when((s) => closeProject(s, { organizationId, projectId: 'p-1' })).then([]);
    given([created(mine), created(other), ...closed])
      .when((s) => createAllocation(s, allocation('a3', servers(1)), kinds))
      .thenThrows(ConflictError, /being deleted/);
    assert.equal(usageOf(given([created(mine), created(other), ...closed]).state, 'servers'), 3);
  });
});
