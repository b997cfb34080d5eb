import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

/**
 * The data folder holds the event log (emails, password hashes), the signing
 * keys and the sealing key: only the service's user may read it, whatever the
 * umask. A folder the service creates is 0700; one that already exists keeps
 * its mode (an operator may have chosen it), and a start-up warning says so
 * when others can read it.
 */
export function preparePrivateDirectory(path: string): { created: boolean; readableByOthers: boolean } {
  const created = !existsSync(path);
  if (created) {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    // mkdir's mode is masked by the umask; chmod is not.
    chmodSync(path, 0o700);
  }
  return { created, readableByOthers: (statSync(path).mode & 0o077) !== 0 };
}

/**
 * A file only the service's user may read: created 0600, or brought to 0600
 * if it exists. SQLite gives its -wal and -shm files the mode of the database
 * file, so preparing the database file before opening it covers them too.
 */
export function preparePrivateFile(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
  for (const companion of [`${path}-wal`, `${path}-shm`]) if (existsSync(companion)) chmodSync(companion, 0o600);
}
