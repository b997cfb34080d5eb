import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

describe('mTLS settings', () => {
  test('TRUSTED_PROXIES: comma-separated IPs and CIDRs', () => {
    assert.deepEqual(loadConfig({ TRUSTED_PROXIES: ' 10.0.0.0/8, 127.0.0.1,fd00::/8 ' }).TRUSTED_PROXIES, ['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
    assert.deepEqual(loadConfig({}).TRUSTED_PROXIES, []);
    for (const bad of ['10.0.0.0/33', 'proxy.local', '10.0.0.1/8/2', '::1/129']) {
      assert.throws(() => loadConfig({ TRUSTED_PROXIES: bad }), /TRUSTED_PROXIES/, bad);
    }
  });

  test('CLIENT_CERT_HEADER is a header name', () => {
    assert.equal(loadConfig({ CLIENT_CERT_HEADER: 'X-Client-Cert' }).CLIENT_CERT_HEADER, 'x-client-cert');
    assert.throws(() => loadConfig({ CLIENT_CERT_HEADER: 'bad header' }), /CLIENT_CERT_HEADER/);
  });

  test('TLS_CERT_FILE and TLS_KEY_FILE go together, and make the default issuer https', () => {
    assert.throws(() => loadConfig({ TLS_CERT_FILE: '/x.pem' }), ConfigError);
    assert.throws(() => loadConfig({ TLS_KEY_FILE: '/x.key' }), ConfigError);
    assert.equal(loadConfig({ TLS_CERT_FILE: '/x.pem', TLS_KEY_FILE: '/x.key', PORT: '8443' }).ISSUER, 'https://localhost:8443');
    assert.equal(loadConfig({ MTLS_ISSUER: 'https://mtls.example.com/' }).MTLS_ISSUER, 'https://mtls.example.com');
  });
});
