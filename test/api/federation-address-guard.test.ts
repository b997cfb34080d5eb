import assert from 'node:assert/strict';
import type { lookup as dnsLookup } from 'node:dns';
import { describe, test } from 'node:test';
import { guardedFetch } from '../../src/infra/oidc-rp/guarded-fetch.js';
import { UpstreamClients, UpstreamError } from '../../src/infra/oidc-rp/upstream.js';

/** A resolver that answers one address for every name, as a hostile DNS zone would. */
const resolvingTo = (address: string) =>
  ((_host: string, _options: unknown, callback: (error: null, addresses: { address: string; family: number }[]) => void) =>
    callback(null, [{ address, family: address.includes(':') ? 6 : 4 }])) as unknown as typeof dnsLookup;

describe('upstream calls go through the address guard', () => {
  test('an issuer whose name resolves to a private or loopback address is refused when private networks are not allowed', async () => {
    for (const address of ['127.0.0.1', '10.0.0.5', '169.254.169.254', '::1']) {
      const fetch = guardedFetch({ allowPrivateNetworks: false, timeoutMs: 2000, maxResponseBytes: 65536, lookup: resolvingTo(address) });
      await assert.rejects(fetch('https://idp.example.com/.well-known/openid-configuration'), /resolves to a loopback, link-local or private address/, address);
    }
  });

  test('literal internal addresses, http and credentials in the URL are refused before any connection', async () => {
    const fetch = guardedFetch({ allowPrivateNetworks: false, timeoutMs: 2000, maxResponseBytes: 65536, lookup: resolvingTo('127.0.0.1') });
    await assert.rejects(fetch('https://127.0.0.1/.well-known/openid-configuration'), /loopback, link-local or private/);
    await assert.rejects(fetch('http://idp.example.com/'), /https/);
    await assert.rejects(fetch('https://user:pass@idp.example.com/'), /credentials/);
  });

  test('discovery of such an issuer fails as upstream_unavailable (the login shows a page, never a 500)', async () => {
    const clients = new UpstreamClients({ allowPrivateNetworks: false, timeoutMs: 2000, maxResponseBytes: 65536, lookup: resolvingTo('192.168.1.1') });
    await assert.rejects(
      clients.authorizationUrl({ key: 'organization:x', issuer: 'https://idp.example.com', clientID: 'c' }, { redirectUri: 'https://rp.example/cb', state: 's', nonce: 'n', codeVerifier: 'v'.repeat(43) }),
      (error: unknown) => error instanceof UpstreamError && error.failure === 'upstream_unavailable',
    );
  });
});
