import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { selfSigned, type Issued } from '../support/pki.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Registering RFC 8705 clients: the method, exactly one certificate identity, public keys only; the old shape keeps working. */
describe('applications: token endpoint authentication methods (RFC 8705)', () => {
  let server: TestServer;
  let organizationId: string;
  let cert: Issued;
  let otherCert: Issued;
  const apps = () => `/api/v1/organizations/${organizationId}/applications`;
  let n = 0;
  const post = (spec: Record<string, unknown>) =>
    server.api(apps(), { method: 'POST', json: { metadata: { name: `app-${++n}` }, spec: { grantTypes: ['client_credentials'], ...spec } } });
  const created = async (spec: Record<string, unknown>) => {
    const response = await post(spec);
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as any;
  };
  const refused = async (spec: Record<string, unknown>, pattern: RegExp) => {
    const response = await post(spec);
    const text = await response.text();
    assert.equal(response.status, 400, `${JSON.stringify(spec)}: ${text}`);
    assert.match(JSON.parse(text).error_description, pattern);
  };

  before(async () => {
    server = await startTestServer();
    const org = await server.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: 'mtls-registration' }, spec: { organizationType: 'adhoc' } } });
    organizationId = ((await org.json()) as any).metadata.id;
    cert = await selfSigned({ subject: 'CN=self' });
    otherCert = await selfSigned({ subject: 'CN=other' });
  });
  after(() => server.close());

  test('the defaults: client_secret_basic for a confidential application, none for a public one', async () => {
    const confidential = await created({});
    assert.equal(confidential.spec.tokenEndpointAuthMethod, 'client_secret_basic');
    assert.match(confidential.status.clientSecret, /^[A-Za-z0-9_-]{43}$/);
    const pub = await created({ grantTypes: ['authorization_code'], redirectURIs: ['https://a.example/cb'], public: true });
    assert.equal(pub.spec.tokenEndpointAuthMethod, 'none');
    const post = await created({ tokenEndpointAuthMethod: 'client_secret_post' });
    assert.equal(post.spec.tokenEndpointAuthMethod, 'client_secret_post');
    assert.ok(post.status.clientSecret);
  });

  test('a tls_client_auth application has no secret, and its identity is shown', async () => {
    const app = await created({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDN: 'CN=svc,O=Acme' });
    assert.deepEqual(app.status, {});
    assert.equal(app.spec.tokenEndpointAuthMethod, 'tls_client_auth');
    assert.equal(app.spec.tlsClientAuthSubjectDN, 'CN=svc,O=Acme');
    const rotate = await server.api(`${apps()}/${app.metadata.id}/secret`, { method: 'POST' });
    assert.equal(rotate.status, 400, 'no secret to rotate');
  });

  test('tls_client_auth needs exactly one well-formed subject DN or SAN', async () => {
    await refused({ tokenEndpointAuthMethod: 'tls_client_auth' }, /exactly one of/);
    await refused({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDN: 'CN=svc', tlsClientAuthSanDNS: 'svc.example.com' }, /exactly one of/);
    await refused({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDN: 'not a dn' }, /distinguished name/);
    await refused({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDN: 'XYZ=svc' }, /distinguished name/);
    await refused({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSanIP: '300.1.1.1' }, /IPv4 or IPv6/);
    await refused({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSanDNS: 'not a name' }, /DNS name/);
    await refused({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSanURI: 'relative/path' }, /absolute URI/);
    await refused({ tlsClientAuthSubjectDN: 'CN=svc' }, /only with tokenEndpointAuthMethod tls_client_auth/);
    await refused({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSanDNS: 'svc.example.com', jwks: { keys: [cert.publicJwk] } }, /only with tokenEndpointAuthMethod self_signed/);
  });

  test('self_signed_tls_client_auth needs public keys or certificates that can be read', async () => {
    await refused({ tokenEndpointAuthMethod: 'self_signed_tls_client_auth' }, /at least one key/);
    await refused({ tokenEndpointAuthMethod: 'self_signed_tls_client_auth', jwks: { keys: [] } }, /at least one key/);
    // Private key material is never registered (nor written to the log).
    await refused({ tokenEndpointAuthMethod: 'self_signed_tls_client_auth', jwks: { keys: [{ ...cert.publicJwk, d: 'AAAA' }] } }, /public key/);
    await refused({ tokenEndpointAuthMethod: 'self_signed_tls_client_auth', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'nope', y: 'nope' }] } }, /public key/);
    await refused(
      { tokenEndpointAuthMethod: 'self_signed_tls_client_auth', jwks: { keys: [{ ...cert.publicJwk, x5c: [otherCert.der.toString('base64')] }] } },
      /must hold this key/,
    );
    await refused({ tokenEndpointAuthMethod: 'self_signed_tls_client_auth', tlsClientCertificates: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'] }, /PEM certificate/);
    await refused({ jwks: { keys: [cert.publicJwk] } }, /only with tokenEndpointAuthMethod self_signed/);
    const ok = await created({
      tokenEndpointAuthMethod: 'self_signed_tls_client_auth',
      jwks: { keys: [{ ...cert.publicJwk, x5c: [cert.der.toString('base64')] }] },
      tlsClientCertificates: [otherCert.cert],
    });
    assert.deepEqual(ok.status, {});
    assert.equal(ok.spec.jwks.keys.length, 1);
  });

  test('none is for public applications only, and public applications use none', async () => {
    await refused({ tokenEndpointAuthMethod: 'none' }, /only for public/);
    await refused({ grantTypes: ['authorization_code'], redirectURIs: ['https://a.example/cb'], public: true, tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSanDNS: 'a.example' }, /public application authenticates with none/);
  });

  test('a secret client stays a secret client and a certificate client a certificate client; within its kind the method may change', async () => {
    const secretApp = await created({});
    const put = (id: string, spec: Record<string, unknown>) =>
      server.api(`${apps()}/${id}`, { method: 'PUT', json: { metadata: { name: `renamed-${++n}` }, spec: { grantTypes: ['client_credentials'], ...spec } } });
    assert.equal((await put(secretApp.metadata.id, { tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSanDNS: 'svc.example.com' })).status, 400);
    const switched = await put(secretApp.metadata.id, { tokenEndpointAuthMethod: 'client_secret_post' });
    assert.equal(switched.status, 200);

    const tlsApp = await created({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSanDNS: 'svc.example.com' });
    assert.equal((await put(tlsApp.metadata.id, {})).status, 400, 'back to the default secret method: refused');
    const patch = await server.api(`${apps()}/${tlsApp.metadata.id}`, {
      method: 'PATCH',
      json: { spec: { tlsClientAuthSanDNS: null, tlsClientAuthSubjectDN: 'CN=svc,O=Acme' } },
    });
    assert.equal(patch.status, 200, await patch.clone().text());
    const patched = (await patch.json()) as any;
    assert.equal(patched.spec.tlsClientAuthSubjectDN, 'CN=svc,O=Acme');
    assert.equal(patched.spec.tlsClientAuthSanDNS, undefined, 'the removed identity is gone');
    const toSelfSigned = await server.api(`${apps()}/${tlsApp.metadata.id}`, {
      method: 'PATCH',
      json: { spec: { tokenEndpointAuthMethod: 'self_signed_tls_client_auth', tlsClientAuthSubjectDN: null, tlsClientCertificates: [cert.cert] } },
    });
    assert.equal(toSelfSigned.status, 200, await toSelfSigned.clone().text());
    const list = await server.api(`${apps()}?filterBy=tokenEndpointAuthMethod==self_signed_tls_client_auth`);
    assert.equal(list.status, 200);
    assert.ok(((await list.json()) as any[]).some((app) => app.metadata.id === tlsApp.metadata.id));
  });
});
