import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorizeOverTls, createPki, jwtClaims, type TestPki, tlsClient, type TlsClient } from '../support/mtls.js';
import { escapedPem, issue, type Issued, selfSigned } from '../support/pki.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

/**
 * RFC 8705 over real TLS: the service's own HTTPS listener (the one main.ts
 * makes), with a CA, a server certificate and client certificates the test
 * makes. Attack tests come first in each group.
 */

const REDIRECT = 'https://svc.example.com/callback';
const PASSWORD = 'correct horse battery staple';

let counter = 0;

/** An organization with a user, made through the admin API over TLS. */
async function createOrganization(client: TlsClient) {
  const n = ++counter;
  const org = await client.api('/api/v1/organizations', { method: 'POST', json: { metadata: { name: `mtls-${n}-${Date.now()}` }, spec: { organizationType: 'adhoc' } } });
  assert.equal(org.status, 202, org.text);
  const organizationId = org.json().metadata.id as string;
  const email = `svc-user-${n}@example.com`;
  const user = await client.api(`/api/v1/organizations/${organizationId}/users`, {
    method: 'POST',
    json: { metadata: { name: `user-${n}` }, spec: { subject: email, state: 'active', groupIDs: [], password: PASSWORD } },
  });
  assert.equal(user.status, 201, user.text);
  return { organizationId, email };
}

async function createApplication(client: TlsClient, organizationId: string, name: string, spec: Record<string, unknown>) {
  return client.api(`/api/v1/organizations/${organizationId}/applications`, {
    method: 'POST',
    json: { metadata: { name }, spec: { grantTypes: ['client_credentials'], ...spec } },
  });
}

async function createdApplication(client: TlsClient, organizationId: string, name: string, spec: Record<string, unknown>) {
  const response = await createApplication(client, organizationId, name, spec);
  assert.equal(response.status, 201, response.text);
  return response.json();
}

const clientCredentials = (client: TlsClient, clientId: string, cert?: Issued, extra: Record<string, string> = {}) =>
  client.form('/oauth2/v2/token', { grant_type: 'client_credentials', client_id: clientId, ...extra }, { cert });

function expectError(answer: { status: number; text: string }, status: number, error: string) {
  assert.equal(answer.status, status, answer.text);
  assert.equal(JSON.parse(answer.text).error, error, answer.text);
}

describe('RFC 8705 mutual TLS over the service\'s own HTTPS listener', () => {
  const dir = tempDir();
  let pki: TestPki;
  let server: TestServer;
  let client: TlsClient;
  let organizationId: string;
  let email: string;
  /** CA-issued: svc-a (the registered DN), svc-b (another). */
  let svcA: Issued;
  let svcB: Issued;
  /** Self-signed with svc-a's subject: what an attacker can make without the CA. */
  let forgedA: Issued;
  /** Self-signed client certificates. */
  let selfOne: Issued;
  let selfTwo: Issued;
  let tlsApp: any;

  before(async () => {
    pki = await createPki(dir.path);
    const subjectA = 'C=DE, O=Acme, CN=svc-a';
    svcA = await issue(pki.clientCa, { subject: subjectA });
    svcB = await issue(pki.clientCa, { subject: 'C=DE, O=Acme, CN=svc-b' });
    forgedA = await selfSigned({ subject: subjectA });
    selfOne = await selfSigned({ subject: 'CN=self-one' });
    selfTwo = await selfSigned({ subject: 'CN=self-two' });
    server = await startTestServer({ env: { TLS_CERT_FILE: pki.files.cert, TLS_KEY_FILE: pki.files.key, TLS_CLIENT_CA_FILE: pki.files.clientCa } });
    assert.match(server.baseUrl, /^https:/);
    client = tlsClient(server.baseUrl, pki.serverCa);
    ({ organizationId, email } = await createOrganization(client));
    tlsApp = await createdApplication(client, organizationId, 'svc-a', {
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      redirectURIs: [REDIRECT],
      tokenEndpointAuthMethod: 'tls_client_auth',
      tlsClientAuthSubjectDN: 'CN=svc-a,O=Acme,C=DE',
    });
  });
  after(async () => {
    await server.close();
    dir.remove();
  });

  describe('tls_client_auth at the token endpoint', () => {
    test('attack: a self-signed certificate with the registered subject DN is refused (its chain does not verify)', async () => {
      expectError(await clientCredentials(client, tlsApp.metadata.id, forgedA), 401, 'invalid_client');
    });

    test('attack: an expired certificate of the CA with the registered subject is refused', async () => {
      const expired = await issue(pki.clientCa, { subject: 'C=DE, O=Acme, CN=svc-a', notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
      expectError(await clientCredentials(client, tlsApp.metadata.id, expired), 401, 'invalid_client');
    });

    test('attack: a certificate of the same CA with another subject is refused', async () => {
      expectError(await clientCredentials(client, tlsApp.metadata.id, svcB), 401, 'invalid_client');
    });

    test('attack: no certificate, or a secret instead of one, is refused', async () => {
      expectError(await clientCredentials(client, tlsApp.metadata.id), 401, 'invalid_client');
      // A certificate client has no secret: any secret, posted or in HTTP Basic, fails.
      expectError(await clientCredentials(client, tlsApp.metadata.id, svcA, { client_secret: 'x'.repeat(43) }), 401, 'invalid_client');
      const basic = `Basic ${Buffer.from(`${tlsApp.metadata.id}:${'x'.repeat(43)}`).toString('base64')}`;
      expectError(await client.form('/oauth2/v2/token', { grant_type: 'client_credentials' }, { cert: svcA, headers: { authorization: basic } }), 401, 'invalid_client');
    });

    test('attack: a certificate does not authenticate a client registered with a secret', async () => {
      const secretApp = await createdApplication(client, organizationId, 'secret-app', {});
      assert.equal(secretApp.spec.tokenEndpointAuthMethod, 'client_secret_basic');
      expectError(await clientCredentials(client, secretApp.metadata.id, svcA), 401, 'invalid_client');
      // Its secret still works, and its token is not bound.
      const ok = await clientCredentials(client, secretApp.metadata.id, svcA, { client_secret: secretApp.status.clientSecret });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(jwtClaims(ok.json().access_token).cnf, undefined);
    });

    test('attack: a proxy header is ignored when the service was not told to read one', async () => {
      const answer = await client.form(
        '/oauth2/v2/token',
        { grant_type: 'client_credentials', client_id: tlsApp.metadata.id },
        { headers: { 'x-client-cert': escapedPem(svcA), 'x-ssl-client-cert': escapedPem(svcA) } },
      );
      expectError(answer, 401, 'invalid_client');
    });

    test('the registered certificate gets an access token bound to it (cnf x5t#S256)', async () => {
      const answer = await clientCredentials(client, tlsApp.metadata.id, svcA);
      assert.equal(answer.status, 200, answer.text);
      const claims = jwtClaims(answer.json().access_token);
      assert.deepEqual(claims.cnf, { 'x5t#S256': svcA.thumbprint });
      assert.equal(claims.client_id, tlsApp.metadata.id);
    });

    test('a subject alternative name identifies the client as well (DNS, URI, IP, email)', async () => {
      const san = { dns: ['svc.example.com'], uri: ['spiffe://acme/svc'], ip: ['2001:db8::7'], email: ['ops@Example.com'] };
      const withSans = await issue(pki.clientCa, { subject: 'CN=sans', san });
      const other = await issue(pki.clientCa, { subject: 'CN=sans', san: { dns: ['other.example.com'], uri: ['spiffe://acme/other'], ip: ['10.0.0.1'], email: ['x@example.com'] } });
      const registrations = {
        tlsClientAuthSanDNS: 'SVC.example.com',
        tlsClientAuthSanURI: 'spiffe://acme/svc',
        tlsClientAuthSanIP: '2001:0db8:0:0::7',
        tlsClientAuthSanEmail: 'ops@example.com',
      };
      for (const [field, value] of Object.entries(registrations)) {
        const app = await createdApplication(client, organizationId, `san-${field.toLowerCase()}`, { tokenEndpointAuthMethod: 'tls_client_auth', [field]: value });
        expectError(await clientCredentials(client, app.metadata.id, other), 401, 'invalid_client');
        const answer = await clientCredentials(client, app.metadata.id, withSans);
        assert.equal(answer.status, 200, `${field}: ${answer.text}`);
      }
    });
  });

  describe('self_signed_tls_client_auth at the token endpoint', () => {
    test('attack: another self-signed certificate, or the CA-issued one, is refused', async () => {
      const app = await createdApplication(client, organizationId, 'self-x5c', {
        tokenEndpointAuthMethod: 'self_signed_tls_client_auth',
        jwks: { keys: [{ ...selfOne.publicJwk, x5c: [selfOne.der.toString('base64')] }] },
      });
      expectError(await clientCredentials(client, app.metadata.id, selfTwo), 401, 'invalid_client');
      expectError(await clientCredentials(client, app.metadata.id, svcA), 401, 'invalid_client');
      expectError(await clientCredentials(client, app.metadata.id), 401, 'invalid_client');
      const answer = await clientCredentials(client, app.metadata.id, selfOne);
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(jwtClaims(answer.json().access_token).cnf, { 'x5t#S256': selfOne.thumbprint });
    });

    test('registered as a bare public key, or as a PEM certificate', async () => {
      const byKey = await createdApplication(client, organizationId, 'self-key', { tokenEndpointAuthMethod: 'self_signed_tls_client_auth', jwks: { keys: [selfTwo.publicJwk] } });
      expectError(await clientCredentials(client, byKey.metadata.id, selfOne), 401, 'invalid_client');
      assert.equal((await clientCredentials(client, byKey.metadata.id, selfTwo)).status, 200);
      const byPem = await createdApplication(client, organizationId, 'self-pem', { tokenEndpointAuthMethod: 'self_signed_tls_client_auth', tlsClientCertificates: [selfOne.cert] });
      expectError(await clientCredentials(client, byPem.metadata.id, selfTwo), 401, 'invalid_client');
      assert.equal((await clientCredentials(client, byPem.metadata.id, selfOne)).status, 200);
    });
  });

  describe('certificate-bound access tokens', () => {
    test('attack: the admin API refuses a bound token without its certificate; accepts it with it', async () => {
      const token = (await clientCredentials(client, tlsApp.metadata.id, svcA)).json().access_token as string;
      for (const cert of [undefined, svcB, forgedA, selfOne]) {
        const answer = await client.api('/api/v1/acl', { token, cert });
        assert.equal(answer.status, 401, `${cert ? 'another' : 'no'} certificate: ${answer.text}`);
        assert.match(String(answer.headers['www-authenticate']), /invalid_token/);
      }
      const ok = await client.api('/api/v1/acl', { token, cert: svcA });
      assert.equal(ok.status, 200, ok.text);
    });

    test('attack: userinfo refuses a bound user token without its certificate; refresh needs the certificate too', async () => {
      const { code, verifier } = await authorizeOverTls(client, { clientId: tlsApp.metadata.id, redirectUri: REDIRECT, email, password: PASSWORD });
      const exchange = { grant_type: 'authorization_code', client_id: tlsApp.metadata.id, code, redirect_uri: REDIRECT, code_verifier: verifier };
      const tokens = await client.form('/oauth2/v2/token', exchange, { cert: svcA });
      assert.equal(tokens.status, 200, tokens.text);
      const { access_token, refresh_token } = tokens.json();
      assert.deepEqual(jwtClaims(access_token).cnf, { 'x5t#S256': svcA.thumbprint });
      const userinfo = (cert?: Issued) => client.call('/oauth2/v2/userinfo', { headers: { authorization: `Bearer ${access_token}` }, cert });
      for (const cert of [undefined, svcB, forgedA]) {
        const answer = await userinfo(cert);
        assert.equal(answer.status, 401, answer.text);
        assert.match(String(answer.headers['www-authenticate']), /error="invalid_token"/);
      }
      const ok = await userinfo(svcA);
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json().email, email);

      expectError(await client.form('/oauth2/v2/token', { grant_type: 'refresh_token', client_id: tlsApp.metadata.id, refresh_token }, { cert: svcB }), 401, 'invalid_client');
      const refreshed = await client.form('/oauth2/v2/token', { grant_type: 'refresh_token', client_id: tlsApp.metadata.id, refresh_token }, { cert: svcA });
      assert.equal(refreshed.status, 200, refreshed.text);
      assert.deepEqual(jwtClaims(refreshed.json().access_token).cnf, { 'x5t#S256': svcA.thumbprint });
      // A renewed certificate (same subject, same CA) authenticates the client: refresh tokens are bound by client authentication.
      const renewed = await issue(pki.clientCa, { subject: 'C=DE, O=Acme, CN=svc-a' });
      const again = await client.form('/oauth2/v2/token', { grant_type: 'refresh_token', client_id: tlsApp.metadata.id, refresh_token: refreshed.json().refresh_token }, { cert: renewed });
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(jwtClaims(again.json().access_token).cnf, { 'x5t#S256': renewed.thumbprint });
    });

    test('attack: a public client that presented a certificate has its refresh token bound to it (RFC 8705 4)', async () => {
      const publicApp = await createdApplication(client, organizationId, 'public-cli', {
        grantTypes: ['authorization_code', 'refresh_token'],
        redirectURIs: [REDIRECT],
        public: true,
      });
      const clientId = publicApp.metadata.id as string;
      const { code, verifier } = await authorizeOverTls(client, { clientId, redirectUri: REDIRECT, email, password: PASSWORD });
      const exchanged = await client.form(
        '/oauth2/v2/token',
        { grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier },
        { cert: selfOne },
      );
      assert.equal(exchanged.status, 200, exchanged.text);
      const { access_token, refresh_token } = exchanged.json();
      assert.deepEqual(jwtClaims(access_token).cnf, { 'x5t#S256': selfOne.thumbprint });
      const refresh = (cert?: Issued) => client.form('/oauth2/v2/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token }, { cert });
      for (const cert of [undefined, selfTwo, svcA]) {
        const refused = await refresh(cert);
        expectError(refused, 400, 'invalid_grant');
        assert.match(refused.json().error_description, /bound to a client certificate/);
      }
      // The refusals revoked nothing: with the certificate the same token still rotates, and binds the new access token.
      const ok = await refresh(selfOne);
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(jwtClaims(ok.json().access_token).cnf, { 'x5t#S256': selfOne.thumbprint });
      expectError(await client.form('/oauth2/v2/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: ok.json().refresh_token }), 400, 'invalid_grant');

      // Without a certificate at the start, a public client's tokens are not bound, as before.
      const second = await authorizeOverTls(client, { clientId, redirectUri: REDIRECT, email, password: PASSWORD });
      const unbound = await client.form('/oauth2/v2/token', {
        grant_type: 'authorization_code', client_id: clientId, code: second.code, redirect_uri: REDIRECT, code_verifier: second.verifier,
      });
      assert.equal(unbound.status, 200, unbound.text);
      assert.equal(jwtClaims(unbound.json().access_token).cnf, undefined);
      const plainRefresh = await client.form('/oauth2/v2/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: unbound.json().refresh_token });
      assert.equal(plainRefresh.status, 200, plainRefresh.text);
    });

    test('introspection answers the cnf; the certificate client introspects only with its certificate', async () => {
      const token = (await clientCredentials(client, tlsApp.metadata.id, svcA)).json().access_token as string;
      expectError(await client.form('/oauth2/v2/introspect', { token, client_id: tlsApp.metadata.id }), 401, 'invalid_client');
      expectError(await client.form('/oauth2/v2/introspect', { token, client_id: tlsApp.metadata.id }, { cert: svcB }), 401, 'invalid_client');
      const own = await client.form('/oauth2/v2/introspect', { token, client_id: tlsApp.metadata.id }, { cert: svcA });
      assert.equal(own.status, 200, own.text);
      assert.equal(own.json().active, true);
      assert.deepEqual(own.json().cnf, { 'x5t#S256': svcA.thumbprint });
      // A resource server of the organization (a secret client) learns the binding, to check it against its caller's certificate.
      const resourceServer = await createdApplication(client, organizationId, 'resource-server', {});
      const rs = await client.form('/oauth2/v2/introspect', { token, client_id: resourceServer.metadata.id, client_secret: resourceServer.status.clientSecret });
      assert.equal(rs.status, 200, rs.text);
      assert.deepEqual(rs.json().cnf, { 'x5t#S256': svcA.thumbprint });
    });

    test('an unbound token still works with or without a certificate', async () => {
      const secretApp = await createdApplication(client, organizationId, 'unbound', {});
      const token = (await clientCredentials(client, secretApp.metadata.id, undefined, { client_secret: secretApp.status.clientSecret })).json().access_token as string;
      assert.equal((await client.api('/api/v1/acl', { token })).status, 200);
      assert.equal((await client.api('/api/v1/acl', { token, cert: svcA })).status, 200);
    });
  });

  test('discovery lists the certificate methods, bound tokens and the mTLS endpoint aliases', async () => {
    const answer = await client.call('/.well-known/openid-configuration');
    const discovery = answer.json();
    assert.equal(discovery.issuer, server.baseUrl);
    assert.equal(discovery.tls_client_certificate_bound_access_tokens, true);
    for (const field of ['token_endpoint_auth_methods_supported', 'introspection_endpoint_auth_methods_supported', 'revocation_endpoint_auth_methods_supported']) {
      assert.ok(discovery[field].includes('tls_client_auth') && discovery[field].includes('self_signed_tls_client_auth'), field);
    }
    assert.deepEqual(discovery.mtls_endpoint_aliases, {
      token_endpoint: `${server.baseUrl}/oauth2/v2/token`,
      userinfo_endpoint: `${server.baseUrl}/oauth2/v2/userinfo`,
      revocation_endpoint: `${server.baseUrl}/oauth2/v2/revoke`,
      introspection_endpoint: `${server.baseUrl}/oauth2/v2/introspect`,
    });
  });
});
