import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RecordedEvent } from '../../../src/ports/event-store.js';
import type { OAuthClient } from '../../../src/projections/applications/queries.js';
import { type ClientLookup, KnownClients } from '../../../src/projections/sessions/known-clients.js';

const client = (id: string): OAuthClient =>
  ({ clientId: id, organizationId: 'org-1', name: id, public: false, enabled: true, platform: false, redirectURIs: [], grantTypes: ['client_credentials'], groupIDs: [], tokenEndpointAuthMethod: 'client_secret_basic' }) as OAuthClient;

/** A read model with one secret per client, counting its lookups; `during` runs inside a lookup. */
const directory = (secrets: Map<string, string>) => {
  const calls = { authenticate: 0 };
  let during: (() => void) | undefined;
  const lookup: ClientLookup = {
    client: async (id) => (secrets.has(id) ? client(id) : undefined),
    authenticateClient: async (id, secret) => {
      calls.authenticate += 1;
      during?.();
      return secrets.get(id) === secret ? client(id) : undefined;
    },
  };
  return { lookup, calls, setDuring: (fn: (() => void) | undefined) => (during = fn) };
};

const event = (type: string, data: Record<string, unknown>): RecordedEvent => ({ type, streamName: 'application-x', data, metadata: {} }) as unknown as RecordedEvent;

describe('KnownClients', () => {
  test('remembers a successful authentication: the same secret again does not reach the read model', async () => {
    const read = directory(new Map([['a', 's1']]));
    const known = new KnownClients(read.lookup);
    assert.equal((await known.authenticateClient('a', 's1'))?.clientId, 'a');
    assert.equal((await known.authenticateClient('a', 's1'))?.clientId, 'a');
    assert.equal(read.calls.authenticate, 1);
    assert.ok(Object.isFrozen(await known.authenticateClient('a', 's1')));
  });

  test('a refusal is never remembered, and another secret for a remembered client goes to the read model', async () => {
    const read = directory(new Map([['a', 's1']]));
    const known = new KnownClients(read.lookup);
    assert.equal(await known.authenticateClient('a', 'wrong'), undefined);
    assert.equal(await known.authenticateClient('b', 's1'), undefined);
    assert.equal(known.size, 0);
    await known.authenticateClient('a', 's1');
    assert.equal(await known.authenticateClient('a', 'wrong'), undefined);
    assert.equal(await known.authenticateClient('a', ''), undefined);
    assert.equal(read.calls.authenticate, 5);
  });

  test("any event of the client's application drops it; other applications' events and other events do not", async () => {
    const secrets = new Map([['a', 's1'], ['b', 's2']]);
    const read = directory(secrets);
    const known = new KnownClients(read.lookup);
    await known.authenticateClient('a', 's1');
    await known.authenticateClient('b', 's2');
    known.observe(event('user.updated', { userId: 'a' }));
    known.observe(event('application.updated', { applicationId: 'b' }));
    assert.equal(known.size, 1);
    for (const type of ['application.secret.rotated', 'application.updated', 'application.deleted']) {
      await known.authenticateClient('a', 's1');
      assert.equal(known.size, 1);
      secrets.set('a', 'rotated');
      known.observe(event(type, { applicationId: 'a' }));
      assert.equal(await known.authenticateClient('a', 's1'), undefined, type);
      secrets.set('a', 's1');
    }
  });

  test('an authentication resolved while an application event was applied is not remembered', async () => {
    const read = directory(new Map([['a', 's1']]));
    const known = new KnownClients(read.lookup);
    read.setDuring(() => known.observe(event('application.updated', { applicationId: 'a' })));
    assert.equal((await known.authenticateClient('a', 's1'))?.clientId, 'a');
    assert.equal(known.size, 0);
  });

  test('bounded: the oldest goes first', async () => {
    const read = directory(new Map([['a', '1'], ['b', '2'], ['c', '3']]));
    const known = new KnownClients(read.lookup, 2);
    await known.authenticateClient('a', '1');
    await known.authenticateClient('b', '2');
    await known.authenticateClient('c', '3');
    assert.equal(known.size, 2);
    await known.authenticateClient('a', '1');
    assert.equal(read.calls.authenticate, 4);
  });

  test('a Basic header that authenticated a client is remembered with it, and dropped with it', async () => {
    const secrets = new Map([['a', 's1'], ['b', 's2']]);
    const read = directory(secrets);
    const known = new KnownClients(read.lookup);
    // Refused: nothing remembered.
    assert.equal(await known.authenticateClient('a', 'wrong', 'Basic YTp3cm9uZw=='), undefined);
    assert.equal(known.basicAuthenticated('Basic YTp3cm9uZw=='), undefined);
    // Without a header (client_secret_post): the client is remembered, no header.
    await known.authenticateClient('a', 's1');
    assert.equal(known.basicAuthenticated('Basic YTpzMQ=='), undefined);
    // The remembered client, presented through a header: the header is remembered too.
    await known.authenticateClient('a', 's1', 'Basic YTpzMQ==');
    await known.authenticateClient('b', 's2', 'Basic YjpzMg==');
    assert.deepEqual(
      { ...known.basicAuthenticated('Basic YTpzMQ=='), client: known.basicAuthenticated('Basic YTpzMQ==')?.client.clientId },
      { clientId: 'a', client: 'a' },
    );
    assert.equal(known.basicAuthenticated('basic YTpzMQ=='), undefined, 'only the exact header value');
    const calls = read.calls.authenticate;
    known.observe(event('application.secret.rotated', { applicationId: 'a' }));
    assert.equal(known.basicAuthenticated('Basic YTpzMQ=='), undefined, "dropped by its application's event");
    assert.equal(known.basicAuthenticated('Basic YjpzMg==')?.clientId, 'b', "another application's header stays");
    // Authenticated again from the read model (a new entry): the header again, once it proved it.
    await known.authenticateClient('a', 's1', 'Basic YTpzMQ==');
    assert.equal(read.calls.authenticate, calls + 1);
    assert.equal(known.basicAuthenticated('Basic YTpzMQ==')?.clientId, 'a');
    known.clear();
    assert.equal(known.basicAuthenticated('Basic YjpzMg=='), undefined);
  });

  test('a header whose client was evicted is not good any more, and the headers are bounded', async () => {
    const read = directory(new Map([['a', '1'], ['b', '2'], ['c', '3']]));
    const known = new KnownClients(read.lookup, 2);
    await known.authenticateClient('a', '1', 'Basic YTox');
    await known.authenticateClient('b', '2', 'Basic Yjoy');
    await known.authenticateClient('c', '3', 'Basic Yzoz');
    assert.equal(known.basicAuthenticated('Basic YTox'), undefined);
    assert.equal(known.basicAuthenticated('Basic Yjoy')?.clientId, 'b');
    assert.equal(known.basicAuthenticated('Basic Yzoz')?.clientId, 'c');
  });
});
