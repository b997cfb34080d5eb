import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProjectCommands } from '../../src/commands/project/handlers.js';
import { ResourceLedgerCommands } from '../../src/commands/quota/handlers.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { ConflictError } from '../../src/domain/shared/errors.js';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { projectDeletionProcess } from '../../src/processes/project-deletion.js';
import { projectsProjection, type ProjectDocument } from '../../src/projections/projects/projection.js';
import { applyToProjection } from '../../src/projections/runner.js';
import { testEvent } from '../support/events.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { createOrganization } from '../support/tenants.js';

async function expectError(response: Response, status: number, error: string, description?: RegExp) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${await response.clone().text()}`);
  const body = (await response.json()) as { error: string; error_description: string };
  assert.equal(body.error, error);
  assert.equal(typeof body.error_description, 'string');
  if (description) assert.match(body.error_description, description);
  return body;
}

const projectBody = (name: string, groupIDs: string[] = [], metadata: Record<string, unknown> = {}) => ({
  metadata: { name, ...metadata },
  spec: { groupIDs },
});

describe('projects API', () => {
  let server: TestServer;
  let org: string;
  let otherOrg: string;

  const createOrg = (name: string) => createOrganization(server, name);
  const projects = (organizationId = org) => `/api/v1/organizations/${organizationId}/projects`;
  const createProject = async (body: unknown, organizationId = org) => {
    const response = await server.api(projects(organizationId), { method: 'POST', json: body });
    assert.equal(response.status, 202, await response.clone().text());
    return (await response.json()) as any;
  };
  const createGroup = async (name: string, organizationId = org, roleIDs = ['user']) => {
    const response = await server.api(`/api/v1/organizations/${organizationId}/groups`, { method: 'POST', json: { metadata: { name }, spec: { roleIDs } } });
    assert.equal(response.status, 201, await response.clone().text());
    return ((await response.json()) as any).metadata.id as string;
  };
  const list = async (query = '', token?: string) => {
    const response = await server.api(`${projects()}${query ? `?${query}` : ''}`, token ? { token } : {});
    assert.equal(response.status, 200, await response.clone().text());
    return { items: (await response.json()) as any[], total: Number(response.headers.get('x-total-count')) };
  };

  before(async () => {
    server = await startTestServer();
    org = await createOrg('projects-org');
    otherOrg = await createOrg('projects-other-org');
  });
  after(async () => server.close());

  test('POST answers 202 with the project; GET and the list see it; the event is in the log', async () => {
    const group = await createGroup('web-team');
    const created = await createProject(projectBody('website', [group], { description: 'The website', tags: [{ name: 'team', value: 'web' }] }));
    assert.equal(created.metadata.name, 'website');
    assert.equal(created.metadata.description, 'The website');
    assert.deepEqual(created.metadata.tags, [{ name: 'team', value: 'web' }]);
    assert.equal(created.metadata.organizationId, org);
    // Accepted, not done: the provisioning process marks it provisioned shortly after.
    assert.ok(['provisioning', 'provisioned'].includes(created.metadata.provisioningStatus), created.metadata.provisioningStatus);
    assert.equal(created.metadata.healthStatus, 'healthy');
    assert.equal(created.metadata.createdBy, 'platform-administrator');
    assert.ok(!Number.isNaN(Date.parse(created.metadata.creationTime)));
    assert.deepEqual(created.spec, { groupIDs: [group] });
    assert.ok(!('_id' in created) && !('_position' in created));

    const read = await eventually(async () => {
      const body = (await (await server.api(`${projects()}/${created.metadata.id}`)).json()) as any;
      return body.metadata.provisioningStatus === 'provisioned' && body;
    });
    assert.deepEqual(read, { ...created, metadata: { ...created.metadata, provisioningStatus: 'provisioned' } });
    const { items } = await list();
    assert.ok(items.some((p) => p.metadata.id === created.metadata.id));

    const events = await server.service.stores.events.readStream(`project-${created.metadata.id}`);
    assert.deepEqual(events.map((e) => e.type), ['project.created', 'project.provisioned']);
    assert.deepEqual(events[0]!.data, {
      projectId: created.metadata.id,
      organizationId: org,
      name: 'website',
      description: 'The website',
      tags: [{ name: 'team', value: 'web' }],
      groupIDs: [group],
    });
  });

  test('PUT replaces the project and records who and when; a rename frees the old name', async () => {
    const created = await createProject(projectBody('billing', [], { description: 'old' }));
    const group = await createGroup('billing-team');
    const response = await server.api(`${projects()}/${created.metadata.id}`, { method: 'PUT', json: projectBody('payments', [group, group]) });
    assert.equal(response.status, 200, await response.clone().text());
    const updated = (await response.json()) as any;
    assert.equal(updated.metadata.name, 'payments');
    assert.equal(updated.metadata.description, undefined);
    assert.deepEqual(updated.spec.groupIDs, [group]);
    assert.equal(updated.metadata.modifiedBy, 'platform-administrator');
    assert.equal(updated.metadata.creationTime, created.metadata.creationTime);
    assert.deepEqual(await (await server.api(`${projects()}/${created.metadata.id}`)).json(), updated);
    await createProject(projectBody('billing'));
  });

  test('names are unique within an organization, whatever their case, also under concurrency', async () => {
    await createProject(projectBody('shop'));
    await expectError(await server.api(projects(), { method: 'POST', json: projectBody('SHOP') }), 409, 'conflict', /already taken/);
    await createProject(projectBody('shop'), otherOrg);
    const racers = await Promise.all(Array.from({ length: 8 }, () => server.api(projects(), { method: 'POST', json: projectBody('race') })));
    assert.deepEqual(racers.map((r) => r.status).sort(), [202, ...Array(7).fill(409)]);
    assert.equal((await list('filterBy=name==race')).total, 1);
  });

  test('groupIDs must name live groups of the same organization', async () => {
    const foreign = await createGroup('foreign-team', otherOrg);
    await expectError(await server.api(projects(), { method: 'POST', json: projectBody('nogroup', ['no-such-group']) }), 400, 'invalid_request', /no-such-group/);
    await expectError(await server.api(projects(), { method: 'POST', json: projectBody('nogroup', [foreign]) }), 400, 'invalid_request', new RegExp(foreign));
    const doomed = await createGroup('doomed-team');
    assert.equal((await server.api(`/api/v1/organizations/${org}/groups/${doomed}`, { method: 'DELETE' })).status, 200);
    await expectError(await server.api(projects(), { method: 'POST', json: projectBody('nogroup', [doomed]) }), 400, 'invalid_request', new RegExp(doomed));
    const created = await createProject(projectBody('withgroup'));
    await expectError(
      await server.api(`${projects()}/${created.metadata.id}`, { method: 'PUT', json: projectBody('withgroup', [foreign]) }),
      400,
      'invalid_request',
      new RegExp(foreign),
    );
    // Nothing was half-written: the name of the refused project is free.
    await createProject(projectBody('nogroup'));
  });

  test('deleting a group takes it off every project that listed it', async () => {
    const keep = await createGroup('keep-team');
    const drop = await createGroup('drop-team');
    const a = await createProject(projectBody('alpha', [keep, drop]));
    const b = await createProject(projectBody('beta', [drop]));
    assert.equal((await server.api(`/api/v1/organizations/${org}/groups/${drop}`, { method: 'DELETE' })).status, 200);
    await eventually(async () => {
      const [ra, rb] = await Promise.all([a, b].map(async (p) => (await (await server.api(`${projects()}/${p.metadata.id}`)).json()) as any));
      return JSON.stringify(ra.spec.groupIDs) === JSON.stringify([keep]) && rb.spec.groupIDs.length === 0;
    });
    assert.equal((await list(`filterBy=groupID==${drop}`)).total, 0);
  });

  test('DELETE answers 202; the project is deprovisioned, its allocations go, quota is freed, then it is gone and its name free', async () => {
    const created = await createProject(projectBody('doomed'));
    const id = created.metadata.id;
    const allocation = await server.api(`${projects()}/${id}/allocations`, {
      method: 'POST',
      json: { metadata: { name: 'servers' }, spec: { kind: 'cluster', id: 'c-1', allocations: [{ kind: 'servers', committed: 2, reserved: 1 }] } },
    });
    assert.equal(allocation.status, 201, await allocation.clone().text());
    const allocationId = ((await allocation.json()) as any).metadata.id;
    const usedServers = async () => ((await (await server.api(`/api/v1/organizations/${org}/quotas`)).json()) as any).quotas.find((q: any) => q.kind === 'servers').used;
    assert.equal(await usedServers(), 3);

    const response = await server.api(`${projects()}/${id}`, { method: 'DELETE' });
    assert.equal(response.status, 202);
    // Right after, it is either still deprovisioning or already gone.
    const during = await server.api(`${projects()}/${id}`);
    if (during.status === 200) {
      const body = (await during.json()) as any;
      assert.equal(body.metadata.provisioningStatus, 'deprovisioning');
      assert.ok(!Number.isNaN(Date.parse(body.metadata.deletionTime)));
    } else {
      assert.equal(during.status, 404);
    }
    // A new allocation is refused while it is deleted, and after.
    const late = await server.api(`${projects()}/${id}/allocations`, {
      method: 'POST',
      json: { metadata: { name: 'late' }, spec: { kind: 'cluster', id: 'c-2', allocations: [] } },
    });
    assert.ok([404, 409].includes(late.status), `got ${late.status}`);

    await eventually(async () => (await server.api(`${projects()}/${id}`)).status === 404);
    await expectError(await server.api(`${projects()}/${id}`), 404, 'not_found');
    assert.ok(!(await list()).items.some((p) => p.metadata.id === id));
    await expectError(await server.api(`${projects()}/${id}/allocations/${allocationId}`), 404, 'not_found');
    assert.equal(await usedServers(), 0);
    const types = (await server.service.stores.events.readStream(`project-${id}`)).map((e) => e.type).filter((t) => t !== 'project.provisioned');
    assert.deepEqual(types, ['project.created', 'project.deletion_requested', 'project.deleted']);
    const ledger = (await server.service.stores.events.readStream(`resource-ledger-${org}`)).map((e) => `${e.type} ${(e.data as any).projectId}`);
    assert.ok(ledger.includes(`allocation.deleted ${id}`));
    assert.ok(ledger.includes(`resource_ledger.project_closed ${id}`));
    await expectError(await server.api(`${projects()}/${id}`, { method: 'DELETE' }), 404, 'not_found');
    await expectError(await server.api(`${projects()}/${id}`, { method: 'PUT', json: projectBody('doomed') }), 404, 'not_found');
    await createProject(projectBody('doomed'));
  });

  test('when an organization is deleted, its projects and allocations go, each with its own event', async () => {
    const doomedOrg = await createOrg('projects-doomed-org');
    const id = (await createProject(projectBody('inside'), doomedOrg)).metadata.id;
    const allocation = await server.api(`${projects(doomedOrg)}/${id}/allocations`, {
      method: 'POST',
      json: { metadata: { name: 'a' }, spec: { kind: 'cluster', id: 'c', allocations: [{ kind: 'servers', committed: 1, reserved: 0 }] } },
    });
    assert.equal(allocation.status, 201);
    const quotas = await server.api(`/api/v1/organizations/${doomedOrg}/quotas`, { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 3 }] } });
    assert.equal(quotas.status, 200);
    assert.equal(await server.service.stores.readModels.collection('quotas').count({ 'metadata.organizationId': doomedOrg }), 1);
    assert.equal((await server.api(`/api/v1/organizations/${doomedOrg}`, { method: 'DELETE' })).status, 202);
    const { readModels } = server.service.stores;
    await eventually(async () => (await server.api(`/api/v1/organizations/${doomedOrg}`)).status === 404);
    const left = await Promise.all(['projects', 'allocations', 'quotas'].map((c) => readModels.collection(c).count({ 'metadata.organizationId': doomedOrg })));
    assert.deepEqual(left, [0, 0, 0]);
    await expectError(await server.api(projects(doomedOrg)), 404, 'not_found');
    // Not hidden by the organization's deletion: the project, its allocation and the quotas went one by one.
    const { events } = server.service.stores;
    assert.equal((await events.readStream(`project-${id}`)).at(-1)!.type, 'project.deleted');
    const ledger = (await events.readStream(`resource-ledger-${doomedOrg}`)).map((e) => e.type);
    assert.deepEqual(ledger.slice(1), ['quotas.updated', 'allocation.deleted', 'resource_ledger.project_closed', 'resource_ledger.closed']);
  });

  test('a project of another organization is not found through this one', async () => {
    const foreign = await createProject(projectBody('foreign'), otherOrg);
    const path = `${projects()}/${foreign.metadata.id}`;
    await expectError(await server.api(path), 404, 'not_found');
    await expectError(await server.api(path, { method: 'PUT', json: projectBody('stolen') }), 404, 'not_found');
    await expectError(await server.api(path, { method: 'DELETE' }), 404, 'not_found');
    assert.equal((await server.api(`${projects(otherOrg)}/${foreign.metadata.id}`)).status, 200);
    assert.ok(!(await list()).items.some((p) => p.metadata.id === foreign.metadata.id));
  });

  test('the list sorts, filters, searches and pages, with X-Total-Count', async () => {
    const listOrg = await createOrg('projects-list-org');
    for (const name of ['list-c', 'list-a', 'list-b']) await createProject(projectBody(name, [], { description: `about ${name}` }), listOrg);
    const get = async (query: string) => {
      const response = await server.api(`${projects(listOrg)}?${query}`);
      assert.equal(response.status, 200, await response.clone().text());
      return { names: ((await response.json()) as any[]).map((p) => p.metadata.name), total: Number(response.headers.get('x-total-count')) };
    };
    assert.deepEqual(await get(''), { names: ['list-a', 'list-b', 'list-c'], total: 3 });
    assert.deepEqual(await get('sortBy=name&sortOrder=desc&limit=2'), { names: ['list-c', 'list-b'], total: 3 });
    assert.deepEqual(await get('offset=2'), { names: ['list-c'], total: 3 });
    assert.deepEqual(await get('filterBy=name==list-b'), { names: ['list-b'], total: 1 });
    assert.deepEqual(await get('search=ABOUT%20LIST-A'), { names: ['list-a'], total: 1 });
    await expectError(await server.api(`${projects(listOrg)}?sortBy=colour`), 400, 'invalid_request', /colour/);
    await expectError(await server.api(`${projects(listOrg)}?filterBy=colour==red`), 400, 'invalid_request', /colour/);
    await expectError(await server.api(`${projects(listOrg)}?limit=0`), 400, 'invalid_request', /limit/);
    await expectError(await server.api(`${projects('no-such-org')}`), 404, 'not_found');
  });

  test('bad input gets a 4xx with the error body and writes nothing', async () => {
    const before = (await list()).total;
    const post = (json: unknown) => server.api(projects(), { method: 'POST', json });
    await expectError(await post({ ...projectBody('ok'), extra: 1 }), 400, 'invalid_request', /extra/);
    await expectError(await post({ metadata: { name: 'ok', colour: 'red' }, spec: { groupIDs: [] } }), 400, 'invalid_request', /colour/);
    await expectError(await post(projectBody('Not A Label!')), 400, 'invalid_request', /metadata\.name/);
    await expectError(await post({ metadata: { name: 'ok' }, spec: { groupIDs: 'g' } }), 400, 'invalid_request', /groupIDs/);
    await expectError(await post({ metadata: { name: 'ok' }, spec: { groupIDs: [], owner: 'x' } }), 400, 'invalid_request', /owner/);
    await expectError(await post({ metadata: { name: 'ok' } }), 400, 'invalid_request', /spec/);
    await expectError(await post(null), 400, 'invalid_request');
    await expectError(await server.api(projects('no-such-org'), { method: 'POST', json: projectBody('ok') }), 404, 'not_found');
    await expectError(await server.api(`${projects()}/${'x'.repeat(200)}`), 400, 'invalid_request');
    await expectError(await server.api(`${projects()}/no-such-project`), 404, 'not_found');
    assert.equal((await list()).total, before);
  });

  test('callers see the projects their groups are in, and nothing of another organization', async () => {
    const accessOrg = await createOrg('projects-access-org');
    const group = await createGroup('members', accessOrg, ['user']);
    const account = await server.api(`/api/v1/organizations/${accessOrg}/serviceaccounts`, {
      method: 'POST',
      json: { metadata: { name: 'robot' }, spec: { groupIDs: [group] } },
    });
    assert.equal(account.status, 201, await account.clone().text());
    const token = ((await account.json()) as any).status.accessToken as string;
    const mine = await createProject(projectBody('mine', [group]), accessOrg);
    const theirs = await createProject(projectBody('theirs'), accessOrg);

    const response = await server.api(projects(accessOrg), { token });
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(((await response.json()) as any[]).map((p) => p.metadata.id), [mine.metadata.id]);
    assert.equal(response.headers.get('x-total-count'), '1');
    assert.equal((await server.api(`${projects(accessOrg)}/${mine.metadata.id}`, { token })).status, 200);
    await expectError(await server.api(`${projects(accessOrg)}/${theirs.metadata.id}`, { token }), 403, 'forbidden');
    // The user role reads projects but does not create, change or delete them.
    await expectError(await server.api(projects(accessOrg), { method: 'POST', json: projectBody('more'), token }), 403, 'forbidden');
    await expectError(await server.api(`${projects(accessOrg)}/${mine.metadata.id}`, { method: 'DELETE', token }), 403, 'forbidden');
    await expectError(await server.api(projects(org), { token }), 403, 'forbidden');

    // Without any group, the list is empty rather than refused.
    const loner = await server.api(`/api/v1/organizations/${accessOrg}/serviceaccounts`, { method: 'POST', json: { metadata: { name: 'loner' } } });
    const lonerToken = ((await loner.json()) as any).status.accessToken as string;
    const empty = await server.api(projects(accessOrg), { token: lonerToken });
    assert.equal(empty.status, 200);
    assert.deepEqual(await empty.json(), []);
  });
});

describe('project deletion, step by step', () => {
  test('deprovisioning refuses allocations; the process releases them and then deletes the project', async () => {
    const temp = tempDir();
    const events = new SqliteEventStore(`${temp.path}/events.sqlite`);
    try {
      const meta: CommandMetadata = { now: new Date(), actor: { subject: 'tester', kind: 'system' }, correlationId: 'c', causationId: 'c' };
      const organizationId = 'org-1';
      await events.appendToStream(
        `organization-${organizationId}`,
        [testEvent('organization.created', { organizationId, name: 'org', tags: [], spec: { organizationType: 'adhoc' } })],
        { expectedRevision: 'no_stream' },
      );
      const projects = new ProjectCommands(events);
      const kinds = [{ kind: 'servers', displayName: 'Servers', description: 'Servers.', default: 10 }];
      const ledger = new ResourceLedgerCommands(events, kinds);
      const created = await projects.create(organizationId, { name: 'doomed', tags: [], groupIDs: [] }, meta);
      assert.equal(created.state.status, 'active');
      const projectId = created.state.status === 'active' ? created.state.id : '';
      const spec = { kind: 'cluster', id: 'c', allocations: [{ kind: 'servers', committed: 4, reserved: 0 }] };
      await ledger.createAllocation(organizationId, projectId, { name: 'a', tags: [], spec }, meta);

      await projects.requestDeletion(organizationId, projectId, meta);
      // The read model shows the project deprovisioning, with its deletion time.
      const readModels = new MemoryReadModelStore();
      const collection = readModels.collection<ProjectDocument>('projects');
      for (const event of await events.readStream(`project-${projectId}`)) await applyToProjection(projectsProjection, collection, event);
      const doc = await collection.findById(projectId);
      assert.equal(doc?.metadata.provisioningStatus, 'deprovisioning');
      assert.equal(doc?.metadata.deletionTime, meta.now.toISOString());
      // No new allocation while it is being deleted.
      await assert.rejects(ledger.createAllocation(organizationId, projectId, { name: 'b', tags: [], spec }, meta), (e) => e instanceof ConflictError);

      const requested = (await events.readStream(`project-${projectId}`)).at(-1)!;
      const process = projectDeletionProcess(projects, ledger);
      const context = { signal: new AbortController().signal };
      await process.handlers['project.deletion_requested']!(requested, context);
      await process.handlers['project.deletion_requested']!(requested, context); // a replay changes nothing
      assert.deepEqual((await events.readStream(`project-${projectId}`)).map((e) => e.type), ['project.created', 'project.deletion_requested', 'project.deleted']);
      const ledgerTypes = (await events.readStream(`resource-ledger-${organizationId}`)).map((e) => e.type);
      assert.deepEqual(ledgerTypes, ['allocation.created', 'allocation.deleted', 'resource_ledger.project_closed']);
      // The quota is free again: the whole default fits.
      const other = await projects.create(organizationId, { name: 'other', tags: [], groupIDs: [] }, meta);
      const otherId = other.state.status === 'active' ? other.state.id : '';
      const full = { ...spec, allocations: [{ kind: 'servers', committed: 10, reserved: 0 }] };
      await ledger.createAllocation(organizationId, otherId, { name: 'all', tags: [], spec: full }, meta);
      // And the name is free.
      await projects.create(organizationId, { name: 'doomed', tags: [], groupIDs: [] }, meta);
    } finally {
      await events.close();
      temp.remove();
    }
  });
});
