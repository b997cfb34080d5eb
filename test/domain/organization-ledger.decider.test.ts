import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { closeLedger, closeProjects, createAllocation, resourceLedgerDecider, setQuotas } from '../../src/domain/resource-ledger/decider.js';
import type { ResourceLedgerEvent } from '../../src/domain/resource-ledger/events.js';
import { ConflictError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

/** The resource ledger's part in an organization's cascade: its projects closed in one append, then the ledger itself. */
const given = givenDecider(resourceLedgerDecider);
const organizationId = 'org-1';
const kinds = [{ kind: 'servers', displayName: 'Servers', description: 'Servers.', default: 10 }];
const spec = { kind: 'cluster', id: 'c', allocations: [{ kind: 'servers', committed: 2, reserved: 0 }] };
const allocated = (allocationId: string, projectId: string): ResourceLedgerEvent => ({
  type: 'allocation.created',
  data: { organizationId, projectId, allocationId, name: allocationId, tags: [], spec },
});
const released = (allocationId: string, projectId: string): ResourceLedgerEvent => ({ type: 'allocation.deleted', data: { organizationId, projectId, allocationId } });
const projectClosed = (projectId: string): ResourceLedgerEvent => ({ type: 'resource_ledger.project_closed', data: { organizationId, projectId } });
const ledgerClosed: ResourceLedgerEvent = { type: 'resource_ledger.closed', data: { organizationId } };
const quotasSet: ResourceLedgerEvent = { type: 'quotas.updated', data: { organizationId, quotas: [{ kind: 'servers', quantity: 5 }] } };

describe('resource ledger in an organization cascade', () => {
  test('closes many projects in one decision, each allocation released with its own event, each project once', () => {
    given([allocated('a1', 'p1'), allocated('a2', 'p2'), allocated('a3', 'p1')])
      .when((s) => closeProjects(s, { organizationId, projectIds: ['p1', 'p2', 'p1', 'p3'] }))
      .then([released('a1', 'p1'), released('a3', 'p1'), projectClosed('p1'), released('a2', 'p2'), projectClosed('p2'), projectClosed('p3')]);
    given([allocated('a1', 'p1'), released('a1', 'p1'), projectClosed('p1')]).when((s) => closeProjects(s, { organizationId, projectIds: ['p1'] })).then([]);
  });

  test('closing the ledger releases what is left and drops the quotas, once', () => {
    given([quotasSet, allocated('a1', 'p1')]).when((s) => closeLedger(s, { organizationId })).then([released('a1', 'p1'), ledgerClosed]);
    given([quotasSet, ledgerClosed]).when((s) => closeLedger(s, { organizationId })).then([]);
    assert.equal(given([quotasSet, ledgerClosed]).state.quotas.size, 0);
  });

  test('a closed ledger takes no new allocation and no quota', () => {
    given([ledgerClosed])
      .when((s) => createAllocation(s, { organizationId, projectId: 'p9', allocationId: 'a9', name: 'late', tags: [], spec }, kinds))
      .thenThrows(ConflictError, /being deleted/);
    given([ledgerClosed]).when((s) => setQuotas(s, { organizationId, quotas: [{ kind: 'servers', quantity: 3 }] }, kinds)).thenThrows(ConflictError, /being deleted/);
  });
});
