import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
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
});
