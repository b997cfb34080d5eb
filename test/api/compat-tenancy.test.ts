import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { drawTenantNumber, FIRST_TENANT_NUMBER, tenantNumberOf, tenantNumbersDecider } from '../../src/domain/tenancy/decider.js';
import { loadFixtureLog, readFixtureLog } from '../support/fixture-log.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { createOrganization } from '../support/tenants.js';

/** Tenant numbers: the `tenantId` of the compatible APIs (docs/compat.md). */
describe('tenancy: tenant numbers', () => {
  test('the counter hands out the next number, and the same one again to the same organization', () => {
    let state = tenantNumbersDecider.initialState();
    const draw = (organizationId: string) => {
      const events = drawTenantNumber(state, { organizationId });
      for (const event of events) state = tenantNumbersDecider.evolve(state, event);
      return events;
    };
    assert.deepEqual(draw('a'), [{ type: 'tenant_number.drawn', data: { organizationId: 'a', tenantId: FIRST_TENANT_NUMBER } }]);
    assert.deepEqual(draw('a'), [], 'a retry right after gets the same number');
    assert.equal(tenantNumberOf(state, 'a'), FIRST_TENANT_NUMBER);
    assert.deepEqual(draw('b')[0]!.data.tenantId, FIRST_TENANT_NUMBER + 1);
    // The organization's stream says which number it has; a draw after another's is a new number (the old one stays unused).
    assert.deepEqual(draw('a')[0]!.data.tenantId, FIRST_TENANT_NUMBER + 2, 'never a number drawn before');
  });

  describe('through the API', () => {
    const dir = tempDir();
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ dataDir: dir.path });
    });
    after(async () => {
      await server.stop();
      dir.remove();
    });

    const tenantIdOf = async (organizationId: string) =>
      ((await (await server.api(`/api/v1/organizations/${organizationId}`)).json()) as { metadata: { tenantId?: number } }).metadata.tenantId;

    test('organizations created at once get distinct numbers, shown in the organization read model and stable across updates and restarts', async () => {
      const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => createOrganization(server, `tenant-number-${i}`)));
      const numbers = await Promise.all(ids.map(tenantIdOf));
      assert.ok(numbers.every((n) => typeof n === 'number' && n >= FIRST_TENANT_NUMBER), JSON.stringify(numbers));
      assert.equal(new Set(numbers).size, ids.length, 'unique');
      const listed = (await (await server.api('/api/v1/organizations?limit=500')).json()) as Array<{ metadata: { id: string; tenantId: number } }>;
      for (const [i, id] of ids.entries()) assert.equal(listed.find((o) => o.metadata.id === id)?.metadata.tenantId, numbers[i]);

      const put = await server.api(`/api/v1/organizations/${ids[0]}`, { method: 'PUT', json: { metadata: { name: 'tenant-number-renamed' }, spec: { organizationType: 'adhoc' } } });
      assert.equal(put.status, 200, await put.text());
      assert.equal(await tenantIdOf(ids[0]!), numbers[0]);

      await server.stop();
      server = await startTestServer({ dataDir: dir.path });
      assert.deepEqual(await Promise.all(ids.map(tenantIdOf)), numbers, 'the same after a restart');
      // Drawn once: one assignment event per organization, whatever retried.
      for (const id of ids) {
        const types = (await server.service.stores.events.readStream(`organization-${id}`)).map((e) => e.type);
        assert.equal(types.filter((t) => t === 'organization.tenant_number.assigned').length, 1);
      }
      const fresh = await createOrganization(server, 'tenant-number-after-restart');
      assert.ok(!numbers.includes(await tenantIdOf(fresh)), 'never reused');
    });
  });

  describe('a log written before tenant numbers existed', () => {
    const log = readFixtureLog('log-v1');
    const dir = tempDir();
    let server: TestServer;
    before(async () => {
      await loadFixtureLog(log, dir.path);
      server = await startTestServer({ dataDir: dir.path });
      await eventually(async () => (await server.api('/readyz', { token: null })).status === 200, 15_000);
    });
    after(async () => {
      await server?.close();
      dir.remove();
    });

    test('still loads; its organization gets a number, and its users show through /api/v1/users', async () => {
      const organizationId = log.manifest.organization.id as string;
      const response = await server.api('/api/v1/users', { headers: { 'X-Organization-ID': organizationId } });
      assert.equal(response.status, 200, await response.clone().text());
      const users = (await response.json()) as Array<{ id: string; tenantId: number; username: string }>;
      assert.ok(users.some((u) => u.id === log.manifest.ids.alice && u.username === log.manifest.login.email));
      const tenantId = users[0]!.tenantId;
      assert.ok(tenantId >= FIRST_TENANT_NUMBER);
      const organization = (await (await server.api(`/api/v1/organizations/${organizationId}`)).json()) as { metadata: { tenantId: number } };
      assert.equal(organization.metadata.tenantId, tenantId);
      const byNumber = await server.api('/api/v1/users/count', { headers: { 'X-Organization-ID': String(tenantId) } });
      assert.deepEqual(await byNumber.json(), { count: users.length });
    });
  });
});
