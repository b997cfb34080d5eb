// The load worker of ab-reads.mjs: on {baseUrl, requests, concurrency, count}, sends `count` requests over `concurrency` keep-alive lanes, replies {count, errors, ms}.
import { parentPort } from 'node:worker_threads';
import http from 'node:http';
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const send = (url, spec) => new Promise((resolve) => {
  const req = http.request(url + spec.path, { method: spec.method, headers: spec.headers, agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
  req.on('error', () => resolve(0));
  if (spec.body) req.end(spec.body); else req.end();
});
parentPort.on('message', async ({ baseUrl, requests, concurrency, count }) => {
  let next = 0, errors = 0; const t = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next < count) { const i = next++; if ((await send(baseUrl, requests[i % requests.length])) !== 200) errors++; } }));
  parentPort.postMessage({ count, errors, ms: performance.now() - t });
});
