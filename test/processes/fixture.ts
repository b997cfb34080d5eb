import assert from 'node:assert/strict';
import { forEachConcurrently } from '../../src/processes/concurrency.js';
import type { Document, ReadModelStore } from '../../src/ports/read-models.js';
import { ORGANIZATIONS } from '../../src/projections/organizations/projection.js';
import { PROJECTIONS } from '../../src/service.js';

/** Any way to call the admin API as the platform administrator (a test server, or a service process). */
export type Api = (path: string, init?: { method?: string; json?: unknown }) => Promise<Response>;

export const apiOf = (baseUrl: string, token: string): Api => (path, init = {}) =>
  fetch(baseUrl + path, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, ...(init.json !== undefined && { 'content-type': 'application/json' }) },
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });

/** Every child kind, with its collection path under the organization and the prefix of its event stream. */
export const CHILD_KINDS = {
  users: { path: 'users', stream: 'user-', deleted: 'user.deleted' },
  groups: { path: 'groups', stream: 'group-', deleted: 'group.deleted' },
  projects: { path: 'projects', stream: 'project-', deleted: 'project.deleted' },
  serviceAccounts: { path: 'serviceaccounts', stream: 'serviceaccount-', deleted: 'serviceaccount.deleted' },
  applications: { path: 'applications', stream: 'application-', deleted: 'application.deleted' },
  identityProviders: { path: 'oauth2providers', stream: 'identityprovider-', deleted: 'identity_provider.deleted' },
} as const;
export type ChildKind = keyof typeof CHILD_KINDS;

/** Every list endpoint of an organization. */
export const LIST_PATHS = ['users', 'groups', 'projects', 'serviceaccounts', 'applications', 'oauth2providers', 'allocations', 'quotas'];

export interface Counts {
  readonly users: number;
  readonly groups: number;
  readonly projects: number;
  readonly serviceAccounts: number;
  readonly applications: number;
  readonly identityProviders: number;
}

export interface Population {
  readonly organizationId: string;
  readonly ids: Record<ChildKind, string[]>;
  /** projectId -> its allocations. */
  readonly allocations: Map<string, string[]>;
  /** Tokens and secrets handed out, to check they stop working. */
  readonly serviceAccountTokens: string[];
  readonly applicationSecrets: Array<{ clientId: string; secret: string }>;
}

const created = async (response: Response, what: string) => {
  assert.ok(response.status === 201 || response.status === 202, `${what}: ${response.status} ${await response.clone().text()}`);
  return (await response.json()) as any;
};

/**
 * An organization with children of every kind, made through the HTTP API with
 * bounded concurrency: users and service accounts in groups, projects (listing
 * a group) with one allocation each (under a raised quota), applications and
 * identity providers.
 */
export async function populateOrganization(api: Api, name: string, counts: Counts, concurrency = 16): Promise<Population> {
  const org = await created(await api('/api/v1/organizations', { method: 'POST', json: { metadata: { name }, spec: { organizationType: 'adhoc' } } }), 'organization');
  return populateChildren(api, org.metadata.id, name, counts, concurrency);
}

/** The same, in an organization that exists already; `name` keeps subjects apart. */
export async function populateChildren(api: Api, organizationId: string, name: string, counts: Counts, concurrency = 16): Promise<Population> {
  const base = `/api/v1/organizations/${organizationId}`;
  // Many users joining one group meet on its stream: the API answers 409 "try again" after a few lost races, so try again.
  const post = async (path: string, json: unknown) => {
    for (let attempt = 1; ; attempt++) {
      const response = await api(`${base}/${path}`, { method: 'POST', json });
      if (response.status === 409 && attempt < 20 && /concurrently/.test(await response.clone().text())) continue;
      return created(response, path);
    }
  };
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const ids: Record<ChildKind, string[]> = { users: [], groups: [], projects: [], serviceAccounts: [], applications: [], identityProviders: [] };
  const allocations = new Map<string, string[]>();
  const serviceAccountTokens: string[] = [];
  const applicationSecrets: Array<{ clientId: string; secret: string }> = [];
  const quotas = await api(`${base}/quotas`, { method: 'PUT', json: { quotas: [{ kind: 'servers', quantity: 100_000 }] } });
  assert.equal(quotas.status, 200, await quotas.clone().text());

  // Users and service accounts first, then the groups that list them: a group's members are on its own
  // stream, so listing them there is one write per group rather than many racing writes to each group.
  await forEachConcurrently(range(counts.users), concurrency, async (i) => {
    const body = { metadata: { name: `user-${i}` }, spec: { subject: `user-${i}@${name}.example.com`, state: 'active' } };
    ids.users.push((await post('users', body)).metadata.id);
  });
  await forEachConcurrently(range(counts.serviceAccounts), concurrency, async (i) => {
    const account = await post('serviceaccounts', { metadata: { name: `robot-${i}` } });
    ids.serviceAccounts.push(account.metadata.id);
    serviceAccountTokens.push(account.status.accessToken);
  });
  const share = (members: string[], i: number, of: number) => members.filter((_, j) => j % of === i);
  await forEachConcurrently(range(counts.groups), concurrency, async (i) => {
    const spec = { roleIDs: ['user'], userIDs: share(ids.users, i, counts.groups), serviceAccountIDs: share(ids.serviceAccounts, i, counts.groups) };
    ids.groups.push((await post('groups', { metadata: { name: `group-${i}` }, spec })).metadata.id);
  });
  const someGroup = (i: number) => (ids.groups.length > 0 ? [ids.groups[i % ids.groups.length]!] : []);
  await forEachConcurrently(range(counts.projects), concurrency, async (i) => {
    const projectId = (await post('projects', { metadata: { name: `project-${i}` }, spec: { groupIDs: someGroup(i) } })).metadata.id as string;
    ids.projects.push(projectId);
    const allocation = await post(`projects/${projectId}/allocations`, {
      metadata: { name: `allocation-${i}` },
      spec: { kind: 'cluster', id: `cluster-${i}`, allocations: [{ kind: 'servers', committed: 1, reserved: 1 }] },
    });
    allocations.set(projectId, [allocation.metadata.id]);
  });
  await forEachConcurrently(range(counts.applications), concurrency, async (i) => {
    const app = await post('applications', { metadata: { name: `app-${i}` }, spec: { grantTypes: ['client_credentials'], public: false } });
    ids.applications.push(app.metadata.id);
    applicationSecrets.push({ clientId: app.metadata.id, secret: app.status.clientSecret });
  });
  await forEachConcurrently(range(counts.identityProviders), concurrency, async (i) => {
    const body = { metadata: { name: `idp-${i}` }, spec: { issuer: `https://idp-${i}.example.com`, clientID: `client-${i}`, clientSecret: `secret-${i}` } };
    ids.identityProviders.push((await post('oauth2providers', body)).metadata.id);
  });
  return { organizationId, ids, allocations, serviceAccountTokens, applicationSecrets };
}

export const childCount = (population: Population): number =>
  Object.values(population.ids).reduce((sum, list) => sum + list.length, 0) + [...population.allocations.values()].flat().length;

/** The path of one child through the API. */
export const childPath = (organizationId: string, kind: ChildKind, id: string) => `/api/v1/organizations/${organizationId}/${CHILD_KINDS[kind].path}/${id}`;

/**
 * Lists of an organization that is gone answer 404; some list endpoints do not
 * look the organization up and answer an empty list instead, which leaks
 * nothing either (see the report): both count as gone, anything listed does not.
 */
export async function expectListsGone(api: Api, organizationId: string): Promise<void> {
  for (const path of LIST_PATHS) {
    const response = await api(`/api/v1/organizations/${organizationId}/${path}`);
    assert.equal(response.status, 404, `${path} of a deleted organization: ${response.status} ${await response.text()}`);
  }
}

/** Every document of every read model, sorted, for comparing a live store with a rebuilt one. */
export async function snapshot(readModels: ReadModelStore): Promise<Record<string, Document[]>> {
  const collections = [...new Set(PROJECTIONS.map((p) => p.collection))].sort();
  const entries = await Promise.all(collections.map(async (name) => [name, await readModels.collection(name).find({}, { sort: { _id: 1 } })] as const));
  return Object.fromEntries(entries);
}

/** Documents of any read model that still name the organization. */
export async function leftIn(readModels: ReadModelStore, organizationId: string): Promise<string[]> {
  const left: string[] = [];
  for (const [name, docs] of Object.entries(await snapshot(readModels))) {
    for (const doc of docs) {
      const metadata = doc.metadata as { organizationId?: string; id?: string } | undefined;
      if (metadata?.organizationId === organizationId || (name === ORGANIZATIONS && doc._id === organizationId)) left.push(`${name}/${doc._id}`);
    }
  }
  return left;
}

/** Every child, and every allocation, answers 404. */
export async function expectChildrenGone(api: Api, population: Population, concurrency = 16): Promise<void> {
  const { organizationId } = population;
  const paths = (Object.keys(population.ids) as ChildKind[]).flatMap((kind) => population.ids[kind].map((id) => childPath(organizationId, kind, id)));
  for (const [projectId, allocationIds] of population.allocations) {
    for (const id of allocationIds) paths.push(`/api/v1/organizations/${organizationId}/projects/${projectId}/allocations/${id}`);
  }
  await forEachConcurrently(paths, concurrency, async (path) => {
    const response = await api(path);
    assert.equal(response.status, 404, `${path}: ${response.status} ${await response.clone().text()}`);
  });
}

/** The event log as a list of (stream, type), from the SQLite file or a store. */
export interface LoggedEvent {
  readonly streamName: string;
  readonly type: string;
}

/**
 * What the log must show once an organization is deleted: every child stream
 * ends with its deleted event and has exactly one; the ledger released every
 * allocation and closed; the organization ends with organization.deleted.
 */
export function expectLogComplete(log: readonly LoggedEvent[], population: Population): void {
  const byStream = new Map<string, string[]>();
  for (const event of log) {
    let types = byStream.get(event.streamName);
    if (!types) byStream.set(event.streamName, (types = []));
    types.push(event.type);
  }
  for (const kind of Object.keys(CHILD_KINDS) as ChildKind[]) {
    const { stream, deleted } = CHILD_KINDS[kind];
    for (const id of population.ids[kind]) {
      const types = byStream.get(`${stream}${id}`) ?? [];
      assert.equal(types.at(-1), deleted, `${stream}${id} ends with ${types.at(-1)}`);
      assert.equal(types.filter((type) => type === deleted).length, 1, `${stream}${id} was deleted once: ${types.join(', ')}`);
    }
  }
  const organization = byStream.get(`organization-${population.organizationId}`) ?? [];
  assert.equal(organization.at(-1), 'organization.deleted');
  assert.equal(organization.filter((type) => type === 'organization.deleted').length, 1);
  const ledger = log.filter((event) => event.streamName === `resource-ledger-${population.organizationId}`);
  assert.equal(ledger.at(-1)?.type, 'resource_ledger.closed');
  const released = ledger.filter((event) => event.type === 'allocation.deleted').length;
  assert.equal(released, [...population.allocations.values()].flat().length, 'every allocation released once');
}
