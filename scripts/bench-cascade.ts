/**
 * Cascade-delete benchmark (`npm run bench:cascade`).
 *
 * Starts the service in this process (embedded default: SQLite events,
 * in-memory read models) on a fresh temp DATA_DIR, listening on 127.0.0.1.
 * Loads one organization with 10,000 users, 100 groups (each listing 100 of
 * the users) and 100 projects (each listing two groups) through the command
 * layer, not HTTP, with bounded concurrency, and prints how long that took.
 * Then it sends DELETE /api/v1/organizations/{id} and times from its 202 to
 * the first 404 of GET /api/v1/organizations/{id}, polling every 20 ms.
 *
 *   node dist/scripts/bench-cascade.js [--users N] [--groups N] [--projects N] [--cpu-profile FILE]
 *
 * --cpu-profile writes a V8 CPU profile of the cascade alone (open it in Chrome DevTools).
 */
import type { Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GroupCommands } from '../src/commands/group/handlers.js';
import { OrganizationCommands } from '../src/commands/organization/handlers.js';
import { ProjectCommands } from '../src/commands/project/handlers.js';
import { UserCommands } from '../src/commands/user/handlers.js';
import { loadConfig } from '../src/config.js';
import type { CommandMetadata } from '../src/domain/shared/decider.js';
import { createLogger } from '../src/infra/logger.js';
import { forEachConcurrently } from '../src/processes/concurrency.js';
import { startService } from '../src/service.js';

const GOAL_SECONDS = 10;
const LOAD_CONCURRENCY = 32;
const POLL_MS = 20;
const TOKEN = 'bench-cascade-bootstrap-token-0123456789abcdef';

interface Options {
  users: number;
  groups: number;
  projects: number;
  cpuProfile?: string;
}

const usage = 'usage: bench-cascade [--users N (default 10000)] [--groups N (default 100)] [--projects N (default 100)] [--cpu-profile FILE]';

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { users: 10_000, groups: 100, projects: 100 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const key = arg.replace(/^--/, '') as 'users' | 'groups' | 'projects';
    if (arg === '--help' || arg === '-h') {
      console.log(usage);
      process.exit(0);
    }
    if (arg === '--cpu-profile') {
      options.cpuProfile = argv[++i];
      if (!options.cpuProfile) throw new Error(`--cpu-profile needs a file name\n${usage}`);
      continue;
    }
    const value = Number(argv[++i]);
    if (!(key in options) || !Number.isInteger(value) || value < 1 || value > 1_000_000) throw new Error(`bad argument ${arg}\n${usage}`);
    options[key] = value;
  }
  if (options.groups < 2) throw new Error(`--groups must be at least 2\n${usage}`);
  return options;
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-cascade-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const config = loadConfig({ PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, DATA_DIR: dataDir, LOG_LEVEL: 'error', IDENTITY_BOOTSTRAP_TOKEN: TOKEN });
  const service = await startService(config, createLogger('error'));
  const server: Server = await new Promise((resolve) => {
    const s = service.app.listen(port, '127.0.0.1', () => resolve(s));
  });
  const api = (path: string, method = 'GET') => fetch(`${config.ISSUER}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });

  try {
    console.log(`bench:cascade  ${options.users} users, ${options.groups} groups, ${options.projects} projects  (node ${process.version})`);

    // Load through the command layer: the same commands the API runs, without HTTP in the way.
    const { events, readModels } = service.stores;
    const meta = (): CommandMetadata => ({ now: new Date(), actor: { subject: 'bench', kind: 'platform_administrator' }, correlationId: 'bench', causationId: 'bench' });
    const organizations = new OrganizationCommands(events);
    const groups = new GroupCommands(events, readModels);
    const users = new UserCommands(events, groups);
    const projects = new ProjectCommands(events);
    const loadStart = performance.now();
    const created = await organizations.create({ name: 'bench-org', tags: [], spec: { organizationType: 'adhoc' } }, meta());
    if (created.state.status !== 'active') throw new Error('the organization was not created');
    const organizationId = created.state.id;
    const userIds: string[] = new Array(options.users);
    const indexes = (n: number) => Array.from({ length: n }, (_, i) => i);
    await forEachConcurrently(indexes(options.users), LOAD_CONCURRENCY, async (i) => {
      const details = { name: `user-${i}`, tags: [], subject: `user-${i}@bench.example.com`, state: 'active' as const };
      userIds[i] = (await users.create(organizationId, details, meta(), async () => {})).userId;
    });
    // Groups list their users in one event each: every user is in one group.
    const perGroup = Math.ceil(options.users / options.groups);
    const groupIds: string[] = new Array(options.groups);
    await forEachConcurrently(indexes(options.groups), LOAD_CONCURRENCY, async (i) => {
      const members = userIds.slice(i * perGroup, (i + 1) * perGroup);
      const result = await groups.create(organizationId, { name: `group-${i}`, tags: [], roleIDs: ['user'], userIDs: members, serviceAccountIDs: [] }, meta());
      if (result.state.status !== 'active') throw new Error('a group was not created');
      groupIds[i] = result.state.id;
    });
    await forEachConcurrently(indexes(options.projects), LOAD_CONCURRENCY, async (i) => {
      const groupIDs = [groupIds[i % options.groups]!, groupIds[(i + 1) % options.groups]!];
      await projects.create(organizationId, { name: `project-${i}`, tags: [], groupIDs }, meta());
    });
    if (!(await service.projections.waitFor(await events.headPosition(), 300_000))) throw new Error('the read models did not catch up');
    const loadMs = performance.now() - loadStart;
    const loadedEvents = Number((await events.headPosition())!.commit);
    console.log(`load: ${seconds(loadMs)} s through the command layer (${LOAD_CONCURRENCY} in flight), ${loadedEvents} events in the log`);

    const profiler = options.cpuProfile ? new Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    // The measurement: from the DELETE's 202 to the first 404 of GET.
    const response = await api(`/api/v1/organizations/${organizationId}`, 'DELETE');
    if (response.status !== 202) throw new Error(`DELETE answered ${response.status}: ${await response.text()}`);
    const accepted = performance.now();
    const cpuBefore = process.cpuUsage();
    const statuses = new Map<number, number>();
    for (;;) {
      const status = (await api(`/api/v1/organizations/${organizationId}`)).status;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 404) break;
      if (status !== 200) throw new Error(`GET answered ${status} during the cascade`);
      if (performance.now() - accepted > 600_000) throw new Error('no 404 within 10 minutes');
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const cascadeMs = performance.now() - accepted;
    const cpu = process.cpuUsage(cpuBefore);
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(options.cpuProfile!, JSON.stringify(profile));
      profiler.disconnect();
    }
    const cascadeEvents = Number((await events.headPosition())!.commit) - loadedEvents;
    const polls = [...statuses].map(([status, n]) => `${n}x ${status}`).join(', ');
    console.log(`cascade: ${seconds(cascadeMs)} s from the 202 to the first 404 (${cascadeEvents} events appended; polls: ${polls})`);
    console.log(`cpu during the cascade: ${seconds((cpu.user + cpu.system) / 1000)} s of this process (user ${seconds(cpu.user / 1000)}, system ${seconds(cpu.system / 1000)})`);
    const met = cascadeMs <= GOAL_SECONDS * 1000;
    console.log(`goal: at most ${GOAL_SECONDS} s -> ${met ? 'met' : 'NOT met'}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await service.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
