import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPki, jwtClaims, type TestPki } from '../support/mtls.js';
import { escapedPem, issue, type Issued, selfSigned } from '../support/pki.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

/**
 * Behind a TLS-terminating proxy (RFC 8705 with the certificate in a header):
 * the service listens on plain HTTP and believes CLIENT_CERT_HEADER only from
 * TRUSTED_PROXIES. The test is the proxy, connecting from 127.0.0.1.
 */

const HEADER = 'X-Client-Cert';

async function organization(server: TestServer): Promise<string> {
  const org = await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: `proxy-${Date.now()}` }, spec: { organizationType: 'adhoc' } } });
  assert.equal(org.status, 202);
  return ((await org.json()) as any).metadata.id;
}

async function tlsApplication(server: TestServer, organizationId: string, name: string): Promise<string> {
  const response = await server.api(`/api/v1/organizations/${organizationId}/applications`, {
    method: 'POST',
    json: { metadata: { name }, spec: { grantTypes: ['client_credentials'], tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDN: 'CN=svc-a,O=Acme' } },
  });
  assert.equal(response.status, 201, await response.clone().text());
  return ((await response.json()) as any).metadata.id;
}

const tokenRequest = (server: TestServer, clientId: string, cert?: Issued) =>
  fetch(`${server.baseUrl}/oauth2/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cert && { [HEADER]: escapedPem(cert) }) },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId }),
  });

async function expectInvalidClient(response: Response) {
  const text = await response.text();
  assert.equal(response.status, 401, text);
  assert.equal(JSON.parse(text).error, 'invalid_client');
}

describe('client certificates forwarded by a proxy', () => {
  const dir = tempDir();
  let pki: TestPki;
  let svcA: Issued;
  let forgedA: Issued;
  /** Believes the header from 127.0.0.1, and checks forwarded chains against the client CA file. */
  let trusted: TestServer;
  /** Believes the header only from 10.0.0.0/8 and fd00::/8: not from the test. */
  let untrusted: TestServer;

  before(async () => {
    pki = await createPki(dir.path);
    svcA = await issue(pki.clientCa, { subject: 'O=Acme, CN=svc-a' });
    forgedA = await selfSigned({ subject: 'O=Acme, CN=svc-a' });
    trusted = await startTestServer({ env: { CLIENT_CERT_HEADER: HEADER, TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1', TLS_CLIENT_CA_FILE: pki.files.clientCa } });
    untrusted = await startTestServer({ env: { CLIENT_CERT_HEADER: HEADER, TRUSTED_PROXIES: '10.0.0.0/8,fd00::/8', TLS_CLIENT_CA_FILE: pki.files.clientCa } });
  });
  after(async () => {
    await trusted.close();
    await untrusted.close();
    dir.remove();
  });

  test('attack: the header from an address that is not a trusted proxy is ignored', async () => {
    const clientId = await tlsApplication(untrusted, await organization(untrusted), 'svc-a');
    await expectInvalidClient(await tokenRequest(untrusted, clientId, svcA));
  });

  test('attack: a forwarded self-signed certificate with the registered DN is refused: its chain is checked against TLS_CLIENT_CA_FILE', async () => {
    const clientId = await tlsApplication(trusted, await organization(trusted), 'svc-a-forged');
    await expectInvalidClient(await tokenRequest(trusted, clientId, forgedA));
    await expectInvalidClient(await tokenRequest(trusted, clientId));
    // Garbage in the header is no certificate.
    const garbage = await fetch(`${trusted.baseUrl}/oauth2/v2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', [HEADER]: '%%%not-a-pem' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId }),
    });
    await expectInvalidClient(garbage);
  });

  test('from a trusted proxy the forwarded certificate authenticates the client, and binds its token', async () => {
    const clientId = await tlsApplication(trusted, await organization(trusted), 'svc-a-ok');
    const answer = await tokenRequest(trusted, clientId, svcA);
    assert.equal(answer.status, 200, await answer.clone().text());
    const { access_token } = (await answer.json()) as { access_token: string };
    assert.deepEqual(jwtClaims(access_token).cnf, { 'x5t#S256': svcA.thumbprint });

    const acl = (headers: Record<string, string>) => fetch(`${trusted.baseUrl}/api/v1/acl`, { headers: { authorization: `Bearer ${access_token}`, ...headers } });
    assert.equal((await acl({})).status, 401, 'no certificate');
    assert.equal((await acl({ [HEADER]: escapedPem(forgedA) })).status, 401, 'another certificate');
    assert.equal((await acl({ [HEADER]: escapedPem(svcA) })).status, 200, 'the same certificate');
  });

  test('discovery lists mTLS when a proxy header is configured', async () => {
    const discovery = (await (await fetch(`${trusted.baseUrl}/.well-known/openid-configuration`)).json()) as any;
    assert.equal(discovery.tls_client_certificate_bound_access_tokens, true);
    assert.equal(discovery.mtls_endpoint_aliases.token_endpoint, `${trusted.baseUrl}/oauth2/v2/token`);
  });
});

describe('without TLS or a proxy header', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  test('discovery does not offer what cannot work', async () => {
    const discovery = (await (await fetch(`${server.baseUrl}/.well-known/openid-configuration`)).json()) as any;
    assert.equal(discovery.tls_client_certificate_bound_access_tokens, undefined);
    assert.equal(discovery.mtls_endpoint_aliases, undefined);
    assert.deepEqual(discovery.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'none']);
  });

  test('attack: a certificate header is ignored when none is configured', async () => {
    const org = await organization(server);
    const clientId = await tlsApplication(server, org, 'svc-a');
    const selfCert = await selfSigned({ subject: 'O=Acme, CN=svc-a' });
    for (const header of ['x-client-cert', 'x-ssl-client-cert', 'ssl-client-cert', 'x-forwarded-client-cert']) {
      const response = await fetch(`${server.baseUrl}/oauth2/v2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', [header]: escapedPem(selfCert) },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId }),
      });
      await expectInvalidClient(response);
    }
  });
});

describe('behind a proxy that verifies chains itself (no TLS_CLIENT_CA_FILE)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { CLIENT_CERT_HEADER: HEADER, TRUSTED_PROXIES: '127.0.0.0/8' } });
  });
  after(() => server.close());

  test('the forwarded certificate is taken as verified by the proxy', async () => {
    const dir = tempDir();
    try {
      const pki = await createPki(dir.path);
      const cert = await issue(pki.clientCa, { subject: 'O=Acme, CN=svc-a' });
      const clientId = await tlsApplication(server, await organization(server), 'svc-a');
      const answer = await tokenRequest(server, clientId, cert);
      assert.equal(answer.status, 200, await answer.clone().text());
    } finally {
      dir.remove();
    }
  });
});
