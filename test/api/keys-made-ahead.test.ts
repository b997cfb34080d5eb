import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PersonKeys } from '../../src/infra/crypto/person-keys.js';
import type { EvolvingEventStore } from '../../src/infra/events/evolving-event-store.js';
import { createTenant, type Tenant } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('new users find their data key made ahead (docs/crypto-shredding.md, Keys made ahead)', () => {
  let server: TestServer;
  let tenant: Tenant;
  let keys: PersonKeys;

  before(async () => {
    server = await startTestServer();
    // The tenant's first user draws a plain id (nothing is ready after a start) and starts the first batch.
    tenant = await createTenant(server);
    keys = server.service.stores.personKeys as PersonKeys;
  });
  after(() => server.close());

  test('twelve users created one after another cost at most one key write between them, and each reads back in clear while stored sealed', async () => {
    const writes = keys.stats.keyWrites;
    const made: Array<{ id: string; name: string; subject: string }> = [];
    for (let i = 0; i < 12; i += 1) {
      const subject = `ahead-${i}-${Date.now()}@example.com`;
      const name = `ahead-${i}`;
      const response = await server.api(`/api/v1/organizations/${tenant.organizationId}/users`, { method: 'POST', json: { metadata: { name }, spec: { subject, state: 'active', groupIDs: [] } } });
      assert.equal(response.status, 201, await response.clone().text());
      made.push({ id: ((await response.json()) as { metadata: { id: string } }).metadata.id, name, subject });
    }
    // Without keys made ahead: twelve writes, one per user, each an fsync before the user's first event.
    assert.ok(keys.stats.keyWrites - writes <= 1, `${keys.stats.keyWrites - writes} key writes for 12 users`);
    for (const user of made) {
      const read = await server.api(`/api/v1/organizations/${tenant.organizationId}/users/${user.id}`);
      const body = (await read.json()) as { metadata: { name: string }; spec: { subject: string } };
      assert.equal(body.metadata.name, user.name);
      assert.equal(body.spec.subject, user.subject);
      const [stored] = await (server.service.stores.events as EvolvingEventStore).inner.readStream(`user-${user.id}`);
      assert.ok(!JSON.stringify(stored!.data).includes(user.subject), 'stored sealed');
    }
  });
});
