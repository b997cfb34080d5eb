import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { v4 as uuidv4 } from 'uuid';
import { toNewEvent } from '../../src/commands/pipeline.js';
import { resourceLedgerStream } from '../../src/domain/resource-ledger/events.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { created, createOrganization } from '../support/tenants.js';

/** Allocations already in the organization's ledger before the command under test. */
const PRIOR_ALLOCATIONS = 60_000;

const meta: CommandMetadata = { now: new Date(), actor: { subject: 'history-test', kind: 'system' }, correlationId: 'history-test', causationId: 'history-test' };

describe('a command on a long stream does not stall the process', () => {
  let server: TestServer;
  let org: string;
  let project: string;

  before(async () => {
    server = await startTestServer();
    org = await createOrganization(server, 'history-org');
    project = (await created(server, `/api/v1/organizations/${org}/projects`, { metadata: { name: 'main' }, spec: { groupIDs: [] } })).metadata.id;
    // The ledger's history, written straight to the log (through the API it would take minutes).
    const { events } = server.service.stores;
    let last;
    for (let start = 0; start < PRIOR_ALLOCATIONS; start += 5_000) {
      const batch = Array.from({ length: 5_000 }, (_, i) =>
        toNewEvent(
          {
            type: 'allocation.created',
            data: {
              organizationId: org,
              projectId: project,
              allocationId: uuidv4(),
              name: `a-${start + i}`,
              tags: [],
              spec: { kind: 'cluster', id: `c-${start + i}`, allocations: [{ kind: 'clusters', committed: 0, reserved: 0 }] },
            },
          },
          meta,
        ),
      );
      last = await events.appendToStream(resourceLedgerStream(org), batch, { expectedRevision: 'any' });
    }
    assert.ok(await server.service.projections.waitFor(last!.position, 600_000), 'the read models caught up');
  });
  after(async () => server.close());

  test('/healthz answers while an allocation is decided on a ledger of 60,000 events', async () => {
    const order: string[] = [];
    const { stats } = server.service.streamStates;
    const readBefore = stats.eventsRead;
    const command = server
      .api(`/api/v1/organizations/${org}/projects/${project}/allocations`, {
        method: 'POST',
        json: { metadata: { name: 'the-new-one' }, spec: { kind: 'cluster', id: 'c-new', allocations: [{ kind: 'servers', committed: 1, reserved: 0 }] } },
      })
      .then(async (response) => {
        order.push('command');
        return response;
      });
    // The test shares the server's event loop: wait until the command is folding the ledger.
    while (stats.eventsRead === readBefore) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(stats.eventsRead - readBefore < PRIOR_ALLOCATIONS, 'the fold is under way, not finished');
    const health = await server.api('/healthz', { token: null });
    order.push('healthz');
    assert.equal(health.status, 200);
    const response = await command;
    assert.equal(response.status, 201, await response.clone().text());
    assert.deepEqual(order, ['healthz', 'command'], 'the health check answered before the command finished');
  });

  test('the next command reads only the events after the state it keeps', async () => {
    const { stats } = server.service.streamStates;
    const readBefore = stats.eventsRead;
    const response = await server.api(`/api/v1/organizations/${org}/projects/${project}/allocations`, {
      method: 'POST',
      json: { metadata: { name: 'another-one' }, spec: { kind: 'cluster', id: 'c-2', allocations: [{ kind: 'servers', committed: 1, reserved: 0 }] } },
    });
    assert.equal(response.status, 201, await response.clone().text());
    assert.equal(stats.eventsRead - readBefore, 0, 'nothing was appended to the ledger since the last command');
    // The name index still knows every allocation: a duplicate name is refused.
    const duplicate = await server.api(`/api/v1/organizations/${org}/projects/${project}/allocations`, {
      method: 'POST',
      json: { metadata: { name: 'a-12345' }, spec: { kind: 'cluster', id: 'c-3', allocations: [] } },
    });
    assert.equal(duplicate.status, 409);
  });
});
