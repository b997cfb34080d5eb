import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { BACKGROUND_NICE } from '../../src/infra/threads/background-priority.js';
import { startTestServer } from '../support/server.js';

/**
 * The audit index's and the ledger's worker threads run at a lower priority
 * (nice BACKGROUND_NICE above the process's), and only they: the main thread,
 * which answers requests, keeps its own. Read from /proc/self/task/<tid>/stat,
 * so Linux only.
 */
const hasProc = existsSync('/proc/thread-self');

/** Each thread's nice value (field 19 of its stat line; the fields after the command's closing parenthesis start at field 3). */
function niceByThread(): Map<number, number> {
  const nice = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      nice.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19 - 3]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return nice;
}

const lowered = (base: number) => [...niceByThread().entries()].filter(([, nice]) => nice === Math.min(19, base + BACKGROUND_NICE));

describe('background worker threads', { skip: !hasProc && 'no /proc here' }, () => {
  test('the audit index and ledger workers run at a lower priority, the main thread keeps its own', async () => {
    const base = niceByThread().get(process.pid)!;
    assert.equal(lowered(base).length, 0, 'no thread lowered before the service starts');
    const server = await startTestServer();
    try {
      // The workers lower themselves when their module runs: wait for both.
      for (let waited = 0; lowered(base).length < 2 && waited < 10_000; waited += 50) await sleep(50);
      const threads = lowered(base);
      assert.equal(threads.length, 2, `two threads lowered (the audit index's and the ledger's), got ${threads.length}`);
      assert.ok(!threads.some(([tid]) => tid === process.pid), 'not the main thread');
      assert.equal(niceByThread().get(process.pid), base, 'the main thread keeps its priority');
      // The service still takes writes.
      const created = await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: 'nice-org' }, spec: { organizationType: 'adhoc' } } });
      assert.equal(created.status, 202);
    } finally {
      await server.close();
    }
  });

  test('a worker lowers itself alone', async () => {
    const base = niceByThread().get(process.pid)!;
    const url = new URL('../../src/infra/threads/background-priority.js', import.meta.url);
    const worker = new Worker(
      `import { parentPort } from 'node:worker_threads';
       const { lowerThisThreadPriority } = await import(${JSON.stringify(url.href)});
       parentPort.postMessage({ first: lowerThisThreadPriority() });
       parentPort.once('message', () => process.exit(0));`,
      { eval: true },
    );
    try {
      const reply = await new Promise<{ first?: number }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      assert.ok(reply.first !== undefined && reply.first !== process.pid, 'the worker names its own thread');
      const nice = niceByThread();
      assert.equal(nice.get(reply.first!), Math.min(19, base + BACKGROUND_NICE));
      assert.equal(nice.get(process.pid), base);
      assert.equal([...nice.values()].filter((n) => n !== base).length, 1, 'only that thread');
    } finally {
      worker.postMessage('exit');
      await new Promise((resolve) => worker.once('exit', resolve));
    }
  });
});
