import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { ApplicationCommands } from '../../src/commands/application/handlers.js';
import { GroupCommands } from '../../src/commands/group/handlers.js';
import { IdentityProviderCommands } from '../../src/commands/identity-provider/handlers.js';
import { TokenService } from '../../src/commands/oauth/token-service.js';
import { OrganizationCommands } from '../../src/commands/organization/handlers.js';
import { ProjectCommands } from '../../src/commands/project/handlers.js';
import { ResourceLedgerCommands } from '../../src/commands/quota/handlers.js';
import { ServiceAccountCommands } from '../../src/commands/service-account/handlers.js';
import { UserCommands } from '../../src/commands/user/handlers.js';
import { toNewEvent } from '../../src/commands/pipeline.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { InvalidCommandError } from '../../src/domain/shared/errors.js';
import { SigningKeys } from '../../src/infra/keys/signing-keys.js';
import { MemoryReadModelStore } from '../../src/infra/memory/memory-read-models.js';
import { SecretSealer } from '../../src/infra/secrets/sealer.js';
import { SqliteCheckpointStore } from '../../src/infra/sqlite/sqlite-checkpoint-store.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import type { EventStore } from '../../src/ports/event-store.js';
import { OrganizationChildren } from '../../src/processes/organization-children.js';
import { type CascadeCommands, organizationDeletionProcess } from '../../src/processes/organization-deletion.js';
import { ProcessManagerRunner } from '../../src/processes/process-manager.js';
import { projectDeletionProcess } from '../../src/processes/project-deletion.js';
import { ReadModelSync } from '../../src/processes/read-model-sync.js';
import { SessionEnder } from '../../src/processes/session-revocation.js';
import { ORGANIZATIONS } from '../../src/projections/organizations/projection.js';
import { PROJECTS } from '../../src/projections/projects/projection.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { PROJECTIONS } from '../../src/service.js';
import { expectOAuthError, createTenant, signIn, tokenRequest, userinfoRequest, refreshRequest } from '../support/oidc.js';
import { ADMIN_TOKEN, eventually, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { apiOf, type ChildKind, leftIn, snapshot, expectChildrenGone, expectListsGone, expectLogComplete, populateChildren, populateOrganization } from './fixture.js';

const logger = pino({ level: 'silent' });

const streamTypes = async (events: EventStore, stream: string) => (await events.readStream(stream)).map((e) => e.type);

describe('organization deletion, through the API', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => server.close());

  test('the cascade removes every child with its own event, ends sessions and credentials, and frees the name; a rebuild agrees', async () => {
    const api = apiOf(server.baseUrl, ADMIN_TOKEN);
    const tenant = await createTenant(server);
    const population = await populateChildren(api, tenant.organizationId, 'cascade', {
      users: 12,
      groups: 4,
      projects: 5,
      serviceAccounts: 3,
      applications: 2,
      identityProviders: 2,
    });
    population.ids.users.push(tenant.userId);
    population.ids.applications.push(tenant.confidential.clientId, tenant.publicClientId);
    const { organizationId } = population;
    const { events, readModels } = server.service.stores;
    const name = ((await (await server.api(`/api/v1/organizations/${organizationId}`)).json()) as any).metadata.name as string;

    // Live credentials before: a user's session, an application's own, a service account's token.
    const userTokens = await signIn(server, tenant);
    const clientCredentials = await tokenRequest(server, { grant_type: 'client_credentials' }, { clientId: tenant.confidential.clientId, secret: tenant.confidential.clientSecret });
    assert.equal(clientCredentials.status, 200);
    const robot = population.serviceAccountTokens[0]!;
    assert.equal((await server.api(`/api/v1/organizations/${organizationId}/projects`, { token: robot })).status, 200);

    const deletions = await Promise.all([0, 1, 2].map(() => server.api(`/api/v1/organizations/${organizationId}`, { method: 'DELETE' })));
    for (const response of deletions) assert.ok([202, 404].includes(response.status), `DELETE answered ${response.status}`);
    assert.equal(deletions[0]!.status, 202);

    // From the request on: deprovisioning (or gone already), no new children, and the robot's token refused at once.
    const during = await server.api(`/api/v1/organizations/${organizationId}`);
    if (during.status === 200) {
      const body = (await during.json()) as any;
      assert.equal(body.metadata.provisioningStatus, 'deprovisioning');
      assert.ok(!Number.isNaN(Date.parse(body.metadata.deletionTime)));
    } else {
      assert.equal(during.status, 404);
    }
    assert.equal((await server.api(`/api/v1/organizations/${organizationId}/projects`, { token: robot })).status, 401);
    const base = `/api/v1/organizations/${organizationId}`;
    const lateCreates: Array<[string, unknown]> = [
      ['groups', { metadata: { name: 'late' }, spec: { roleIDs: ['user'] } }],
      ['users', { metadata: { name: 'late' }, spec: { subject: 'late@example.com', state: 'active' } }],
      ['projects', { metadata: { name: 'late' }, spec: { groupIDs: [] } }],
      ['serviceaccounts', { metadata: { name: 'late' } }],
      ['applications', { metadata: { name: 'late' }, spec: { grantTypes: ['client_credentials'] } }],
      ['oauth2providers', { metadata: { name: 'late' }, spec: { issuer: 'https://late.example.com', clientID: 'late' } }],
      [`projects/${population.ids.projects[0]}/allocations`, { metadata: { name: 'late' }, spec: { kind: 'cluster', id: 'c', allocations: [] } }],
    ];
    for (const [path, json] of lateCreates) {
      const response = await server.api(`${base}/${path}`, { method: 'POST', json });
      assert.ok([404, 409].includes(response.status), `POST ${path} answered ${response.status}`);
    }
    assert.ok([404, 409].includes((await server.api(`${base}/quotas`, { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 1 }] } })).status));

    await eventually(async () => (await server.api(`/api/v1/organizations/${organizationId}`)).status === 404, 20_000);
    assert.ok(!((await (await server.api('/api/v1/organizations')).json()) as any[]).some((o) => o.metadata.id === organizationId));
    await expectListsGone(api, organizationId);
    await expectChildrenGone(api, population);
    expectLogComplete(await events.readAll({ maxCount: 1_000_000 }), population);
    assert.deepEqual(await leftIn(readModels, organizationId), []);

    // Sessions ended, each on its stream; tokens and secrets refused.
    const userSession = `session-${tenant.confidential.clientId}-${tenant.userId}`;
    const appSession = `session-${tenant.confidential.clientId}-${tenant.confidential.clientId}`;
    await eventually(async () => (await streamTypes(events, userSession)).at(-1) === 'session.revoked' && (await streamTypes(events, appSession)).at(-1) === 'session.revoked');
    const reasonOf = async (stream: string) => ((await events.readStream(stream)).at(-1)!.data as { reason: string }).reason;
    assert.ok(['user_removed', 'client_removed'].includes(await reasonOf(userSession)));
    assert.equal(await reasonOf(appSession), 'client_removed');
    assert.equal((await userinfoRequest(server, userTokens.access_token)).status, 401);
    await expectOAuthError(await refreshRequest(server, tenant, userTokens.refresh_token!), 401, 'invalid_client');
    for (const { clientId, secret } of population.applicationSecrets) {
      await expectOAuthError(await tokenRequest(server, { grant_type: 'client_credentials' }, { clientId, secret }), 401, 'invalid_client');
    }

    // The name is free again.
    assert.equal((await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name }, spec: { organizationType: 'adhoc' } } })).status, 202);

    // Rebuilding every read model from the log gives what the live ones hold.
    await eventually(async () => server.service.projections.waitFor(await events.headPosition(), 5000));
    const rebuilt = new MemoryReadModelStore();
    await new ProjectionRunner(events, rebuilt, PROJECTIONS, logger).rebuild();
    assert.deepEqual(await snapshot(rebuilt), await snapshot(readModels));
  });

  test('children created while the deletion is requested are not orphaned; repeated DELETEs are harmless', async () => {
    const api = apiOf(server.baseUrl, ADMIN_TOKEN);
    const population = await populateOrganization(api, 'racing', { users: 20, groups: 3, projects: 3, serviceAccounts: 2, applications: 1, identityProviders: 1 });
    const { organizationId } = population;
    const base = `/api/v1/organizations/${organizationId}`;
    const racers: Array<{ kind: ChildKind; path: string; json: unknown }> = [];
    for (let i = 0; i < 12; i++) {
      racers.push({ kind: 'users', path: 'users', json: { metadata: { name: `racer-${i}` }, spec: { subject: `racer-${i}@example.com`, state: 'active' } } });
      racers.push({ kind: 'groups', path: 'groups', json: { metadata: { name: `racer-${i}` }, spec: { roleIDs: ['user'] } } });
      racers.push({ kind: 'projects', path: 'projects', json: { metadata: { name: `racer-${i}` }, spec: { groupIDs: [] } } });
      racers.push({ kind: 'serviceAccounts', path: 'serviceaccounts', json: { metadata: { name: `racer-${i}` } } });
    }
    const deletes = Array.from({ length: 4 }, (_, i) =>
      new Promise((resolve) => setTimeout(resolve, i * 3)).then(() => server.api(base, { method: 'DELETE' })),
    );
    const [creates, deleted] = await Promise.all([Promise.all(racers.map((r) => server.api(`${base}/${r.path}`, { method: 'POST', json: r.json }))), Promise.all(deletes)]);
    for (const response of deleted) assert.ok([202, 404].includes(response.status), `DELETE answered ${response.status}`);
    for (const [i, response] of creates.entries()) {
      assert.ok([201, 202, 404, 409].includes(response.status), `${racers[i]!.path}: ${response.status} ${await response.clone().text()}`);
      if (response.status === 201 || response.status === 202) {
        population.ids[racers[i]!.kind].push(((await response.json()) as any).metadata.id);
      }
    }

    await eventually(async () => (await server.api(base)).status === 404, 20_000);
    const { events, readModels } = server.service.stores;
    assert.deepEqual(await leftIn(readModels, organizationId), []);
    await expectChildrenGone(api, population);
    expectLogComplete(await events.readAll({ maxCount: 1_000_000 }), population);
    const types = await streamTypes(events, `organization-${organizationId}`);
    assert.equal(types.filter((t) => t === 'organization.deletion_requested').length, 1, 'one request, however many DELETEs');
    // A DELETE after the end is a 404, never a 500.
    assert.equal((await server.api(base, { method: 'DELETE' })).status, 404);
  });

  test('deleting a group takes it off every project, on the write side too', async () => {
    const org = ((await (await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: 'group-removal' }, spec: { organizationType: 'adhoc' } } })).json()) as any).metadata.id as string;
    const group = async (name: string) => ((await (await server.api(`/api/v1/organizations/${org}/groups`, { method: 'POST', json: { metadata: { name }, spec: { roleIDs: ['user'] } } })).json()) as any).metadata.id as string;
    const [doomed, kept] = [await group('doomed'), await group('kept')];
    const project = async (name: string, groupIDs: string[]) =>
      ((await (await server.api(`/api/v1/organizations/${org}/projects`, { method: 'POST', json: { metadata: { name }, spec: { groupIDs } } })).json()) as any).metadata.id as string;
    const both = await project('both', [doomed, kept]);
    const only = await project('only', [doomed]);
    const neither = await project('neither', [kept]);

    assert.equal((await server.api(`/api/v1/organizations/${org}/groups/${doomed}`, { method: 'DELETE' })).status, 200);
    assert.equal((await server.api(`/api/v1/organizations/${org}/groups/${doomed}`, { method: 'DELETE' })).status, 404);
    const { events, readModels } = server.service.stores;
    await eventually(async () => (await streamTypes(events, `project-${only}`)).includes('project.group_removed'));
    await eventually(async () => (await streamTypes(events, `project-${both}`)).includes('project.group_removed'));
    assert.ok(!(await streamTypes(events, `project-${neither}`)).includes('project.group_removed'));
    const groupsOf = async (id: string) => ((await readModels.collection(PROJECTS).findById(id)) as any).spec.groupIDs;
    assert.deepEqual(await groupsOf(both), [kept]);
    assert.deepEqual(await groupsOf(only), []);
    // The stream's state agrees: a PUT with the remaining groups changes nothing about them.
    const put = await server.api(`/api/v1/organizations/${org}/projects/${both}`, { method: 'PUT', json: { metadata: { name: 'both' }, spec: { groupIDs: [kept] } } });
    assert.equal(put.status, 200);
    assert.deepEqual((await new ProjectCommands(events).state(both) as any).groupIDs, [kept]);
  });
});

/** The service's processes over real stores, with the commands the test hands in. */
async function withCascade(
  run: (ctx: {
    events: SqliteEventStore;
    readModels: MemoryReadModelStore;
    commands: CascadeCommands & { organizations: OrganizationCommands; groups: GroupCommands; users: UserCommands; projects: ProjectCommands; ledger: ResourceLedgerCommands };
    start: (commands: CascadeCommands) => Promise<void>;
    startProjectDeletion: (ledger: Pick<ResourceLedgerCommands, 'closeProject'>) => Promise<void>;
    waitForHead: () => Promise<void>;
  }) => Promise<void>,
) {
  const dir = tempDir();
  const file = join(dir.path, 'events.sqlite');
  const events = new SqliteEventStore(file);
  const checkpoints = new SqliteCheckpointStore(file);
  const readModels = new MemoryReadModelStore();
  const projections = new ProjectionRunner(events, readModels, PROJECTIONS, logger);
  await projections.start();
  const sync = new ReadModelSync(events, projections);
  const groups = new GroupCommands(events, readModels);
  const commands = {
    organizations: new OrganizationCommands(events),
    projects: new ProjectCommands(events),
    ledger: new ResourceLedgerCommands(events, [{ kind: 'servers', displayName: 'Servers', description: 'Servers.', default: 10 }]),
    groups,
    users: new UserCommands(events, groups),
    serviceAccounts: new ServiceAccountCommands(events, groups, 30),
    applications: new ApplicationCommands(events),
    identityProviders: new IdentityProviderCommands(events, SecretSealer.forDataDir(dir.path)),
  };
  const tokens = new TokenService(events, await SigningKeys.open(dir.path), { issuer: 'http://localhost', accessTokenTtlSeconds: 60, idTokenTtlSeconds: 60, authorizationCodeTtlSeconds: 60 });
  const runners: ProcessManagerRunner[] = [];
  const options = { maxAttempts: 2, retryDelayMs: 5, checkpointIntervalMs: 10 };
  try {
    await run({
      events,
      readModels,
      commands,
      start: async (cascadeCommands) => {
        const definition = organizationDeletionProcess({ commands: cascadeCommands, children: new OrganizationChildren(readModels), sessions: new SessionEnder(tokens, readModels), sync });
        const runner = new ProcessManagerRunner(definition, events, checkpoints, logger, options);
        runners.push(runner);
        await runner.start();
      },
      startProjectDeletion: async (ledger) => {
        const runner = new ProcessManagerRunner(projectDeletionProcess(commands.projects, ledger), events, checkpoints, logger, options);
        runners.push(runner);
        await runner.start();
      },
      waitForHead: async () => sync.reachHead(),
    });
  } finally {
    for (const runner of runners) await runner.stop();
    await projections.stop();
    await events.close();
    await checkpoints.close();
    dir.remove();
  }
}

const meta = (): CommandMetadata => ({ now: new Date(), actor: { subject: 'tester', kind: 'platform_administrator' }, correlationId: 'c', causationId: 'c' });
const noGrantCheck = async () => {};

describe('the cascade, step by step, over real stores', () => {
  test('a step that fails for good leaves the organization in error, with the reason in the log; a new DELETE starts the cascade again', async () => {
    await withCascade(async ({ events, readModels, commands, start, waitForHead }) => {
      const created = await commands.organizations.create({ name: 'stubborn', tags: [], spec: { organizationType: 'adhoc' } }, meta());
      const organizationId = created.state.status === 'active' ? created.state.id : assert.fail('not created');
      const userIds: string[] = [];
      for (let i = 0; i < 3; i++) {
        const user = await commands.users.create(organizationId, { name: `u-${i}`, tags: [], subject: `u-${i}@example.com`, state: 'active' }, meta(), noGrantCheck);
        userIds.push(user.userId);
      }
      // One user cannot be deleted: a rule the command enforces, so retrying would not help.
      let refuse = true;
      const users: CascadeCommands['users'] = {
        delete: async (org, userId, m) => {
          if (refuse && userId === userIds[1]) throw new InvalidCommandError(`user ${userId} is protected`);
          return commands.users.delete(org, userId, m);
        },
      };
      await start({ ...commands, users });
      await commands.organizations.requestDeletion(organizationId, meta());

      await eventually(async () => (await streamTypes(events, `organization-${organizationId}`)).includes('organization.deletion_failed'));
      await waitForHead();
      const failed = (await events.readStream(`organization-${organizationId}`)).at(-1)!;
      assert.equal(failed.type, 'organization.deletion_failed');
      assert.match((failed.data as { reason: string }).reason, /InvalidCommandError: user .* is protected/);
      const doc = (await readModels.collection(ORGANIZATIONS).findById(organizationId)) as any;
      assert.equal(doc.metadata.provisioningStatus, 'error');
      assert.equal(doc.metadata.healthStatus, 'error');
      assert.ok(doc.metadata.deletionTime);
      // Still closed to new children while it waits.
      await assert.rejects(commands.users.create(organizationId, { name: 'late', tags: [], subject: 'late@example.com', state: 'active' }, meta(), noGrantCheck));
      assert.equal((await streamTypes(events, `user-${userIds[1]}`)).at(-1), 'user.created');

      refuse = false;
      await commands.organizations.requestDeletion(organizationId, meta());
      await eventually(async () => (await streamTypes(events, `organization-${organizationId}`)).at(-1) === 'organization.deleted');
      for (const userId of userIds) assert.equal((await streamTypes(events, `user-${userId}`)).at(-1), 'user.deleted');
      await waitForHead();
      assert.equal(await readModels.collection(ORGANIZATIONS).findById(organizationId), undefined);
      const types = await streamTypes(events, `organization-${organizationId}`);
      // The tenant number (docs/compat.md) is drawn with the organization.
      assert.deepEqual(types.slice(1).filter((type) => type !== 'organization.tenant_number.assigned'), ['organization.deletion_requested', 'organization.deletion_failed', 'organization.deletion_requested', 'organization.deleted']);
    });
  });

  test('a child that lands after the first look (its create checked the organization before the request) is found by a later look', async () => {
    await withCascade(async ({ events, readModels, commands, start, waitForHead }) => {
      const created = await commands.organizations.create({ name: 'late-child', tags: [], spec: { organizationType: 'adhoc' } }, meta());
      const organizationId = created.state.status === 'active' ? created.state.id : assert.fail('not created');
      const early = await commands.groups.create(organizationId, { name: 'early', tags: [], roleIDs: [], userIDs: [], serviceAccountIDs: [] }, meta());
      const earlyId = early.state.status === 'active' ? early.state.id : assert.fail('not created');
      // While the cascade deletes the group it found, a user create that passed its check earlier lands.
      const lateUserId = 'late-user';
      const groups: CascadeCommands['groups'] = {
        delete: async (org, groupId, m) => {
          const result = await commands.groups.delete(org, groupId, m);
          await events.appendToStream(
            `user-${lateUserId}`,
            [toNewEvent({ type: 'user.created', data: { userId: lateUserId, organizationId, name: 'late', tags: [], subject: 'late@example.com', state: 'active' } }, meta())],
            { expectedRevision: 'no_stream' },
          );
          return result;
        },
      };
      await start({ ...commands, groups });
      await commands.organizations.requestDeletion(organizationId, meta());
      await eventually(async () => (await streamTypes(events, `organization-${organizationId}`)).at(-1) === 'organization.deleted');
      assert.deepEqual(await streamTypes(events, `group-${earlyId}`), ['group.created', 'group.deleted']);
      assert.deepEqual(await streamTypes(events, `user-${lateUserId}`), ['user.created', 'user.deleted']);
      // The organization went last: after the late user.
      const log = await events.readAll({ maxCount: 100_000 });
      const at = (stream: string, type: string) => log.findIndex((e) => e.streamName === stream && e.type === type);
      assert.ok(at(`user-${lateUserId}`, 'user.deleted') < at(`organization-${organizationId}`, 'organization.deleted'));
      await waitForHead();
      assert.equal(await readModels.collection('users').findById(lateUserId), undefined);
    });
  });

  test('a project deletion that fails for good leaves the project in error; a new DELETE finishes it', async () => {
    await withCascade(async ({ events, readModels, commands, startProjectDeletion, waitForHead }) => {
      const created = await commands.organizations.create({ name: 'with-project', tags: [], spec: { organizationType: 'adhoc' } }, meta());
      const organizationId = created.state.status === 'active' ? created.state.id : assert.fail('not created');
      const project = await commands.projects.create(organizationId, { name: 'p', tags: [], groupIDs: [] }, meta());
      const projectId = project.state.status === 'active' ? project.state.id : assert.fail('not created');
      let attempts = 0;
      await startProjectDeletion({
        closeProject: async (org, id, m) => {
          if (++attempts <= 2) throw new Error('the ledger is unreachable');
          return commands.ledger.closeProject(org, id, m);
        },
      });
      await commands.projects.requestDeletion(organizationId, projectId, meta());
      // Transient errors, but more of them than the bound allows: failed for good.
      await eventually(async () => (await streamTypes(events, `project-${projectId}`)).includes('project.deletion_failed'));
      await waitForHead();
      const doc = (await readModels.collection(PROJECTS).findById(projectId)) as any;
      assert.equal(doc.metadata.provisioningStatus, 'error');
      assert.equal(doc.metadata.healthStatus, 'error');
      await commands.projects.requestDeletion(organizationId, projectId, meta());
      await eventually(async () => (await streamTypes(events, `project-${projectId}`)).at(-1) === 'project.deleted');
      await waitForHead();
      assert.equal(await readModels.collection(PROJECTS).findById(projectId), undefined);
    });
  });
});
