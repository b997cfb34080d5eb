import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  canonicalIp,
  matchesTlsClientAuth,
  parseDistinguishedName,
  sameDistinguishedName,
  tlsClientAuthProblem,
} from '../../src/domain/application/tls-client-auth.js';
import { certificateFacts, chainsToBundle } from '../../src/infra/tls/certificate.js';
import { type Ca, createCa, issue, type Issued, selfSigned } from '../support/pki.js';

describe('RFC 4514 distinguished names', () => {
  test('parses escapes, multi-valued RDNs and OIDs, in certificate order', () => {
    assert.deepEqual(parseDistinguishedName('CN=svc\\, one+UID=42,O=Acme\\2C Inc.,2.5.4.6=DE'), [
      [{ type: 'C', value: 'DE' }],
      [{ type: 'O', value: 'Acme, Inc.' }],
      [
        { type: 'CN', value: 'svc, one' },
        { type: 'UID', value: '42' },
      ],
    ]);
    assert.deepEqual(parseDistinguishedName('CN=caf\\C3\\A9'), [[{ type: 'CN', value: 'café' }]]);
    assert.deepEqual(parseDistinguishedName('CN=trailing\\ '), [[{ type: 'CN', value: 'trailing ' }]]);
  });

  test('refuses what is not a DN', () => {
    for (const bad of ['', 'svc', 'CN=', 'CN=a,', 'FOO=a', 'CN=#0403', 'CN=a"b', 'CN=a\\']) {
      assert.equal(parseDistinguishedName(bad), undefined, bad);
    }
  });

  test('compares without case or extra spaces, but in order and completely', () => {
    const dn = parseDistinguishedName('CN=svc,O=Acme')!;
    assert.ok(sameDistinguishedName(dn, parseDistinguishedName('cn=SVC, o=acme')!));
    assert.ok(sameDistinguishedName(dn, parseDistinguishedName('CN=svc,  O=Acme')!));
    assert.ok(!sameDistinguishedName(dn, parseDistinguishedName('O=Acme,CN=svc')!));
    assert.ok(!sameDistinguishedName(dn, parseDistinguishedName('CN=svc')!));
    assert.ok(!sameDistinguishedName(dn, parseDistinguishedName('CN=svc,O=Acme,C=DE')!));
  });

  test('IP addresses in one spelling', () => {
    assert.equal(canonicalIp('2001:0DB8:0:0:0:0:0:7'), '2001:db8::7');
    assert.equal(canonicalIp('10.0.0.1'), '10.0.0.1');
    assert.equal(canonicalIp('010.0.0.1'), undefined);
    assert.equal(canonicalIp('example.com'), undefined);
  });

  test('exactly one identity field (RFC 8705 2.1.2)', () => {
    assert.match(tlsClientAuthProblem({})!, /exactly one/);
    assert.match(tlsClientAuthProblem({ tlsClientAuthSanDNS: 'a.example', tlsClientAuthSanURI: 'https://a.example' })!, /exactly one/);
    assert.equal(tlsClientAuthProblem({ tlsClientAuthSanEmail: 'ops@a.example' }), undefined);
  });
});

describe('reading certificates', () => {
  let ca: Ca;
  let cert: Issued;
  before(async () => {
    ca = await createCa();
    cert = await issue(ca, {
      subject: 'C=DE, O=Acme, CN=svc-a',
      san: { dns: ['svc.example.com'], ip: ['10.1.2.3', '2001:db8::1'], uri: ['spiffe://acme/svc'], email: ['ops@Example.com'] },
    });
  });

  test('subject and SANs come from the DER', () => {
    const facts = certificateFacts(cert.x509, true)!;
    assert.equal(facts.thumbprint, cert.thumbprint);
    assert.ok(sameDistinguishedName(facts.subject, parseDistinguishedName('CN=svc-a,O=Acme,C=DE')!));
    assert.deepEqual(facts.san, { dns: ['svc.example.com'], uri: ['spiffe://acme/svc'], ip: ['10.1.2.3', '2001:db8:0:0:0:0:0:1'], email: ['ops@Example.com'] });
    assert.ok(matchesTlsClientAuth(facts, { tlsClientAuthSanIP: '2001:db8::1' }));
    assert.ok(matchesTlsClientAuth(facts, { tlsClientAuthSanEmail: 'ops@example.com' }));
    assert.ok(!matchesTlsClientAuth(facts, { tlsClientAuthSanEmail: 'OPS@example.com' }), 'the local part keeps its case');
    assert.ok(!matchesTlsClientAuth(certificateFacts(cert.x509, false)!, { tlsClientAuthSanDNS: 'svc.example.com' }), 'an unverified chain proves nothing');
  });

  test('chains are checked against the bundle: issuer, signature, validity', async () => {
    assert.ok(chainsToBundle(cert.x509, [ca.x509]));
    const other = await createCa('CN=Other CA');
    assert.ok(!chainsToBundle(cert.x509, [other.x509]));
    assert.ok(!chainsToBundle((await selfSigned({ subject: 'C=DE, O=Acme, CN=svc-a' })).x509, [ca.x509]));
    const expired = await issue(ca, { subject: 'CN=old', notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    assert.ok(!chainsToBundle(expired.x509, [ca.x509]));
    // A CA certificate that is not a CA cannot issue.
    const leafAsIssuer = await issue(ca, { subject: 'CN=leaf' });
    assert.ok(!chainsToBundle(cert.x509, [leafAsIssuer.x509]));
  });
});
