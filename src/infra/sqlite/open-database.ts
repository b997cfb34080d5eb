import Database from 'better-sqlite3';
import { dirname } from 'node:path';
import { preparePrivateDirectory, preparePrivateFile } from '../files/private-files.js';

/**
 * Open the embedded database file: readable by the service's user only
 * (0600 in a 0700 folder, whatever the umask), in WAL mode, with the schema
 * applied. `synchronous` is set on every open: better-sqlite3 reopens a WAL
 * database with NORMAL, which can lose the last commits on power failure, so
 * whatever must survive one asks for FULL; what can be rebuilt (snapshots) may
 * take NORMAL.
 */
export function openDatabase(filename: string, options: { synchronous: 'FULL' | 'NORMAL'; schema: string; incrementalVacuum?: boolean }): Database.Database {
  if (filename !== ':memory:') {
    preparePrivateDirectory(dirname(filename));
    preparePrivateFile(filename);
  }
  const db = new Database(filename);
  // Only a file without tables takes it (before WAL is set): pages freed later (retention's tombstones) can be given back.
  if (options.incrementalVacuum) db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous}`);
  // Several connections share the file (events, checkpoints, snapshots, idempotency keys).
  db.pragma('busy_timeout = 5000');
  db.exec(options.schema);
  return db;
}
