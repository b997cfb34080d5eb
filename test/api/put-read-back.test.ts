import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { populatedOrganization } from '../support/tenants.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Seed 004 niggle (issue 13): a client that GETs a resource and PUTs the same
 * body back succeeds; the read-only fields are accepted and ignored, while an
 * unknown field is still a 400.
 */
describe('PUT of what GET answered', () => {
  let server: TestServer;
  let org: Awaited<ReturnType<typeof populatedOrganization>>;

  before(async () => {
    server = await startTestServer();
    org = await populatedOrganization(server, 'roundtrip');
  });
  after(async () => server.close());

  const paths = () => {
    const base = `/api/v1/organizations/${org.organizationId}`;
    return {
      group: `${base}/groups/${org.ids.groupid}`,
      user: `${base}/users/${org.ids.userID}`,
      project: `${base}/projects/${org.ids.projectID}`,
      application: `${base}/applications/${org.ids.applicationID}`,
    };
  };

  test('group, user, project and application: the body read is accepted back, changes nothing read-only, and an edit in it applies', async () => {
    for (const [kind, path] of Object.entries(paths())) {
      const read = (await (await server.api(path)).json()) as any;
      assert.ok(read.metadata.id && read.metadata.creationTime, kind);
      const put = await server.api(path, { method: 'PUT', json: { ...read, metadata: { ...read.metadata, id: 'forged', creationTime: '2000-01-01T00:00:00Z', description: `edited ${kind}` } } });
      assert.equal(put.status, 200, `${kind}: ${await put.clone().text()}`);
      const after = (await (await server.api(path)).json()) as any;
      assert.equal(after.metadata.id, read.metadata.id, `${kind}: the id is not changed`);
      assert.equal(after.metadata.creationTime, read.metadata.creationTime, kind);
      assert.equal(after.metadata.description, `edited ${kind}`, kind);
    }
  });

  test('an unknown field is still a 400 naming it', async () => {
    for (const [kind, path] of Object.entries(paths())) {
      const read = (await (await server.api(path)).json()) as any;
      for (const body of [{ ...read, surprise: 1 }, { ...read, metadata: { ...read.metadata, surprise: 1 } }, { ...read, spec: { ...read.spec, surprise: 1 } }]) {
        const put = await server.api(path, { method: 'PUT', json: body });
        const text = await put.text();
        assert.equal(put.status, 400, `${kind}: ${text}`);
        assert.match(text, /surprise/, kind);
      }
    }
  });
});
