import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startServiceProcess, stopServiceProcess } from './support/process.js';
import { tempDir } from './support/temp.js';

const TOKEN_LINE = /^\s+([A-Za-z0-9_-]{43})\s*$/m;

describe('the service process (npm start)', () => {
  test('first start generates a bootstrap token, prints it once and keeps only its hash', async () => {
    const dir = tempDir();
    try {
      const first = await startServiceProcess({ DATA_DIR: dir.path });
      const token = TOKEN_LINE.exec(first.stderr())?.[1];
      assert.ok(token, `a token was printed: ${first.stderr()}`);
      const create = await fetch(`${first.baseUrl}/api/v1/organizations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ metadata: { name: 'acme' }, spec: { organizationType: 'adhoc' } }),
      });
      assert.equal(create.status, 202);
      assert.equal(await stopServiceProcess(first), 0, 'a clean shutdown on SIGTERM');

      const second = await startServiceProcess({ DATA_DIR: dir.path });
      assert.ok(!TOKEN_LINE.test(second.stderr()), 'the token is not printed again');
      const list = await fetch(`${second.baseUrl}/api/v1/organizations`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(list.status, 200);
      assert.equal(((await list.json()) as unknown[]).length, 1, 'state survived the restart');
      assert.equal((await fetch(`${second.baseUrl}/api/v1/organizations`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      await stopServiceProcess(second);

      for (const file of readdirSync(dir.path)) {
        assert.ok(!readFileSync(join(dir.path, file)).includes(token!), `${file} does not hold the token in clear`);
      }
      assert.ok(!first.stdout().includes(token!) && !second.stdout().includes(token!), 'the structured log never shows it');
    } finally {
      dir.remove();
    }
  });

  test('a bad configuration stops the start with a clear message', async () => {
    const dir = tempDir();
    try {
      const service = await startServiceProcess({ DATA_DIR: dir.path, PORT: '1', LOG_LEVEL: 'shouting' }, { waitReady: false });
      assert.equal(await service.exited, 2);
      assert.match(service.stderr(), /invalid configuration[\s\S]*LOG_LEVEL/);
    } finally {
      dir.remove();
    }
  });

  test('DATA_DIR is created 0700 and every file in it is 0600, whatever the umask; a readable existing one is warned about', async () => {
    const dir = tempDir();
    const previous = process.umask(0o022);
    try {
      const dataDir = join(dir.path, 'data');
      const service = await startServiceProcess({ DATA_DIR: dataDir });
      // A write, so the log has its WAL and shared-memory files.
      const token = TOKEN_LINE.exec(service.stderr())![1];
      const create = await fetch(`${service.baseUrl}/api/v1/organizations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ metadata: { name: 'acme' }, spec: { organizationType: 'adhoc' } }),
      });
      assert.equal(create.status, 202);
      const files = readdirSync(dataDir);
      for (const expected of ['events.sqlite', 'events.sqlite-wal', 'events.sqlite-shm', 'signing-keys.json', 'secrets-v1.key']) {
        assert.ok(files.includes(expected), `${expected} in ${files.join(', ')}`);
      }
      assert.equal(statSync(dataDir).mode & 0o777, 0o700);
      for (const file of files) assert.equal(statSync(join(dataDir, file)).mode & 0o777, 0o600, file);
      assert.doesNotMatch(service.stdout(), /DATA_DIR is readable by other users/);
      await stopServiceProcess(service);

      // An operator's folder keeps its mode, with a warning at start-up.
      const shared = join(dir.path, 'shared');
      mkdirSync(shared);
      chmodSync(shared, 0o755);
      const second = await startServiceProcess({ DATA_DIR: shared });
      await stopServiceProcess(second);
      assert.match(second.stdout(), /DATA_DIR is readable by other users/);
      for (const file of readdirSync(shared)) assert.equal(statSync(join(shared, file)).mode & 0o777, 0o600, file);
    } finally {
      process.umask(previous);
      dir.remove();
    }
  });
});
