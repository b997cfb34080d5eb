import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { RecordedEvent } from '../../src/ports/event-store.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createOrganization, serviceAccountWithRoles } from '../support/tenants.js';

// An independent implementation of the RFC 9162 definitions and of the leaf bytes, over the raw log.
const sha = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const leafOf = (e: RecordedEvent) =>
  sha(Buffer.from([0]), Buffer.from(canonicalize({ position: `${e.position.commit}/${e.position.prepare}`, stream: e.streamName, revision: e.revision, type: e.type, data: e.data, metadata: e.metadata })!));
const split = (n: number) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
const mth = (d: Buffer[]): Buffer => (d.length === 1 ? d[0]! : sha(Buffer.from([1]), mth(d.slice(0, split(d.length))), mth(d.slice(split(d.length)))));
const path = (m: number, d: Buffer[]): Buffer[] => {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
};
const subproof = (m: number, d: Buffer[], b: boolean): Buffer[] => {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = split(d.length);
  return m <= k ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))] : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
};
const b64 = (list: Buffer[]) => list.map((h) => h.toString('base64'));

describe('the verifiable log over HTTP: signed tree heads and RFC 9162 proofs', () => {
  let server: TestServer;
  before(async () => {
    // Heads only when asked (tick) in this test: a long interval and a large N.
    server = await startTestServer({ env: { LEDGER_TREE_HEAD_SECONDS: '3600', LEDGER_TREE_HEAD_EVENTS: '1000000' } });
    server.service.ledger.heads.stop(); // signed by hand below
  });
  after(() => server.close());

  /** The raw log (as stored) and its leaves, once the tree has every event. */
  const rawLog = async () => {
    const { events } = server.service.stores;
    const raw = (events as unknown as { inner: typeof events }).inner;
    // A process may still append after the last request (the tree is built in a worker thread, so a moment later
    // than the log): read until the log and the tree agree.
    for (let attempt = 0; ; attempt++) {
      assert.ok(await server.service.ledger.builder.waitFor(await events.headPosition(), 10_000));
      const all = await raw.readAll();
      if (server.service.ledger.tree.size() === all.length || attempt === 20) return { all, leaves: all.map(leafOf) };
    }
  };

  test('a signed head verifies with the JWKS; inclusion and consistency proofs are the RFC ones and match it', async () => {
    const org = await createOrganization(server, 'ledger-org');
    await serviceAccountWithRoles(server, org, ['administrator']);
    await server.service.ledger.builder.waitFor(await server.service.stores.events.headPosition(), 10_000);
    const first = await server.service.ledger.heads.tick();
    assert.ok(first, 'a head is due: nothing was signed yet');
    const headA = (await (await server.api('/api/v1/audit/tree-head')).json()) as any;
    assert.equal(headA.tree_size, first.treeSize);

    const jwks = createLocalJWKSet((await (await fetch(`${server.baseUrl}/oauth2/v2/jwks`)).json()) as any);
    const { payload, protectedHeader } = await jwtVerify(headA.signature, jwks, { typ: 'tree-head+jwt' });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.deepEqual({ tree_size: payload['tree_size'], root_hash: payload['root_hash'], timestamp: payload['timestamp'] }, { tree_size: headA.tree_size, root_hash: headA.root_hash, timestamp: headA.timestamp });

    let { all, leaves } = await rawLog();
    assert.equal(headA.root_hash, mth(leaves.slice(0, headA.tree_size)).toString('base64'));

    // More history, then a second head.
    await createOrganization(server, 'ledger-org-2');
    ({ all, leaves } = await rawLog());
    // Not due yet (1,000,000 events or an hour): signed on demand.
    assert.equal(await server.service.ledger.heads.tick(), undefined);
    const second = await server.service.ledger.heads.sign();
    assert.equal(second.treeSize, all.length);
    const headB = (await (await server.api('/api/v1/audit/tree-head')).json()) as any;
    assert.equal(headB.root_hash, mth(leaves.slice(0, headB.tree_size)).toString('base64'));

    for (const index of [0, 1, Math.floor(headA.tree_size / 2), headA.tree_size - 1]) {
      const position = `${all[index]!.position.commit}`;
      const response = await server.api(`/api/v1/audit/proofs/inclusion?position=${position}&treeSize=${headA.tree_size}`);
      assert.equal(response.status, 200, await response.clone().text());
      const proof = (await response.json()) as any;
      assert.equal(proof.leaf_index, index);
      assert.equal(proof.leaf_hash, leaves[index]!.toString('base64'));
      assert.deepEqual(proof.inclusion_path, b64(path(index, leaves.slice(0, headA.tree_size))));
    }

    const consistency = (await (await server.api(`/api/v1/audit/proofs/consistency?from=${headA.tree_size}&to=${headB.tree_size}`)).json()) as any;
    assert.deepEqual(consistency.consistency_path, b64(subproof(headA.tree_size, leaves.slice(0, headB.tree_size), true)));
  });

  test('bad parameters are a 400, an unknown position a 404, and a caller without identity:audit a 403', async () => {
    const head = (await server.service.ledger.heads.sign()).treeSize;
    for (const query of ['position=abc&treeSize=1', 'position=1&treeSize=-1', 'position=1', `position=1&treeSize=${head + 5}`, 'position=1&treeSize=1&extra=1']) {
      const response = await server.api(`/api/v1/audit/proofs/inclusion?${query}`);
      assert.equal(response.status, 400, `${query}: ${await response.clone().text()}`);
    }
    for (const query of ['from=0&to=1', `from=2&to=1`, `from=1&to=${head + 5}`, 'from=x&to=2']) {
      assert.equal((await server.api(`/api/v1/audit/proofs/consistency?${query}`)).status, 400, query);
    }
    assert.equal((await server.api(`/api/v1/audit/proofs/inclusion?position=999999999&treeSize=1`)).status, 404);

    const org = await createOrganization(server, 'ledger-readers');
    const reader = await serviceAccountWithRoles(server, org, ['reader']);
    const admin = await serviceAccountWithRoles(server, org, ['administrator']);
    assert.equal((await server.api('/api/v1/audit/tree-head', { token: reader.token })).status, 403);
    assert.equal((await server.api('/api/v1/audit/proofs/consistency?from=1&to=2', { token: reader.token })).status, 403);
    assert.equal((await server.api('/api/v1/audit/tree-head', { token: admin.token })).status, 200);
    assert.equal((await server.api('/api/v1/audit/tree-head', { token: null })).status, 401);
  });

  test('heads are signed every T seconds while the log grows, and an idle service signs nothing', async () => {
    const timed = await startTestServer({ env: { LEDGER_TREE_HEAD_SECONDS: '0.05', LEDGER_TREE_HEAD_EVENTS: '1000000' } });
    try {
      const { events } = timed.service.stores;
      const { builder, heads, tree } = timed.service.ledger;
      heads.stop(); // driven by hand below
      // Until the log stops moving (provisioning follows an organization's creation) and the tree has all of it.
      const caughtUp = async () => {
        for (let head = await events.headPosition(); ; ) {
          assert.ok(await builder.waitFor(head, 10_000));
          await new Promise((resolve) => setTimeout(resolve, 100));
          const now = await events.headPosition();
          if (now?.commit === head?.commit) return;
          head = now;
        }
      };
      await createOrganization(timed, 'timed-org');
      await caughtUp();
      const first = await heads.tick();
      assert.ok(first);
      await caughtUp();
      // The tree grew by the head's own event only: nothing to sign.
      assert.equal(tree.size(), first.treeSize + 1);
      assert.equal(await heads.tick(), undefined);
      await createOrganization(timed, 'timed-org-2');
      await caughtUp();
      const next = await heads.tick();
      assert.ok(next && next.treeSize > first.treeSize + 1);
    } finally {
      await timed.close();
    }
  });
});
