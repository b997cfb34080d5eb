import { createHash, createPublicKey, type JsonWebKey, type KeyObject, X509Certificate } from 'node:crypto';
import { type CertificateFacts, DN_ATTRIBUTE_NAMES, type DistinguishedName, type DnAttribute } from '../../domain/application/tls-client-auth.js';

/**
 * Reading X.509 certificates: the facts client authentication matches on
 * (subject DN and subject alternative names, read from the DER, not from
 * OpenSSL's display strings), the x5t#S256 thumbprint, and checking a chain
 * against a bundle of CA certificates.
 */

interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
  /** Where the content starts. */
  readonly content: number;
}

class DerError extends Error {}

function readTlv(der: Uint8Array, offset: number, limit = der.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated');
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used in certificates');
  let length = der[offset + 1]!;
  let content = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || content + count > limit) throw new DerError('bad length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[content + i]!;
    content += count;
  }
  const end = content + length;
  if (end > limit) throw new DerError('truncated');
  return { tag, start: offset, end, content };
}

/** The elements inside a constructed value. */
function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const items: Tlv[] = [];
  for (let offset = parent.content; offset < parent.end; ) {
    const item = readTlv(der, offset, parent.end);
    items.push(item);
    offset = item.end;
  }
  return items;
}

function decodeOid(bytes: Uint8Array): string {
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

const TAG = { sequence: 0x30, set: 0x31, oid: 0x06, octetString: 0x04, bmpString: 0x1e, universalString: 0x1c, extensions: 0xa3, version: 0xa0 };
const SUBJECT_ALT_NAME = '2.5.29.17';

function decodeString(der: Uint8Array, tlv: Tlv): string {
  const bytes = der.subarray(tlv.content, tlv.end);
  if (tlv.tag === TAG.bmpString) {
    let text = '';
    for (let i = 0; i + 1 < bytes.length; i += 2) text += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
    return text;
  }
  if (tlv.tag === TAG.universalString) {
    let text = '';
    for (let i = 0; i + 3 < bytes.length; i += 4) text += String.fromCodePoint(((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0);
    return text;
  }
  // UTF8String, PrintableString, IA5String, TeletexString (taken as Latin-1 compatible UTF-8 in practice)
  return Buffer.from(bytes).toString('utf8');
}

function readName(der: Uint8Array, name: Tlv): DistinguishedName {
  return children(der, name).map((set) =>
    children(der, set).map((pair): DnAttribute => {
      const [type, value] = children(der, pair);
      if (!type || !value || type.tag !== TAG.oid) throw new DerError('bad attribute');
      const oid = decodeOid(der.subarray(type.content, type.end));
      return { type: DN_ATTRIBUTE_NAMES[oid] ?? oid, value: decodeString(der, value) };
    }),
  );
}

function formatIp(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length !== 16) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

interface AltNames {
  dns: string[];
  uri: string[];
  ip: string[];
  email: string[];
}

function readAltNames(der: Uint8Array, extensions: Tlv | undefined): AltNames {
  const names: AltNames = { dns: [], uri: [], ip: [], email: [] };
  if (!extensions) return names;
  const [list] = children(der, extensions);
  for (const extension of list ? children(der, list) : []) {
    const parts = children(der, extension);
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (!id || !value || id.tag !== TAG.oid || value.tag !== TAG.octetString) continue;
    if (decodeOid(der.subarray(id.content, id.end)) !== SUBJECT_ALT_NAME) continue;
    const generalNames = readTlv(der, value.content, value.end);
    for (const name of children(der, generalNames)) {
      const bytes = der.subarray(name.content, name.end);
      const text = () => Buffer.from(bytes).toString('latin1');
      switch (name.tag) {
        case 0x81:
          names.email.push(text());
          break;
        case 0x82:
          names.dns.push(text());
          break;
        case 0x86:
          names.uri.push(text());
          break;
        case 0x87: {
          const ip = formatIp(bytes);
          if (ip) names.ip.push(ip);
          break;
        }
        default:
          break;
      }
    }
  }
  return names;
}

/** Subject and SANs, from the certificate's DER. */
function readSubject(der: Uint8Array): { subject: DistinguishedName; san: AltNames } {
  const certificate = readTlv(der, 0);
  const [tbs] = children(der, certificate);
  if (!tbs) throw new DerError('no tbsCertificate');
  const fields = children(der, tbs);
  // version [0] is optional; then serial, signature, issuer, validity, subject, spki, [1], [2], [3] extensions
  const base = fields[0]?.tag === TAG.version ? 1 : 0;
  const subject = fields[base + 4];
  if (!subject || subject.tag !== TAG.sequence) throw new DerError('no subject');
  const extensions = fields.slice(base + 6).find((field) => field.tag === TAG.extensions);
  return { subject: readName(der, subject), san: readAltNames(der, extensions) };
}

/** base64url(SHA-256(DER)): a certificate's x5t#S256. */
export const certificateThumbprint = (certificate: X509Certificate): string => createHash('sha256').update(certificate.raw).digest('base64url');

/** What client authentication needs to know of a presented certificate; undefined when it cannot be read. */
export function certificateFacts(certificate: X509Certificate, chainVerified: boolean): CertificateFacts | undefined {
  try {
    const der = new Uint8Array(certificate.raw);
    return { thumbprint: certificateThumbprint(certificate), der, ...readSubject(der), chainVerified };
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}

/** Every certificate in a PEM bundle. */
export function readPemBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

const MAX_CHAIN = 8;

/**
 * Whether the certificate chains up to a CA of the bundle: each link issued
 * and signed by the next, every certificate within its validity period, every
 * issuer a CA, up to a self-signed root of the bundle, as OpenSSL checks a
 * TLS peer against a CA file. The bundle may hold intermediates as well.
 */
export function chainsToBundle(certificate: X509Certificate, bundle: readonly X509Certificate[], now: Date = new Date()): boolean {
  const valid = (cert: X509Certificate) => new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
  if (!valid(certificate)) return false;
  let current = certificate;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const issuer = bundle.find((ca) => ca.ca && valid(ca) && current.checkIssued(ca) && current.verify(ca.publicKey));
    if (!issuer) return false;
    // A self-signed CA of the bundle is a root: the chain ends at a trust anchor.
    if (issuer.checkIssued(issuer)) return true;
    current = issuer;
  }
  return false;
}

const spki = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });

/** Why a registered public JWK cannot serve self_signed_tls_client_auth, or undefined when it can. */
export function jwkProblem(jwk: { readonly kty: string; readonly x5c?: readonly string[] } & Record<string, unknown>): string | undefined {
  let key: KeyObject;
  try {
    const { x5c: _x5c, ...members } = jwk;
    key = createPublicKey({ key: members as JsonWebKey, format: 'jwk' });
  } catch {
    return 'is not a public key this service can read';
  }
  if (!jwk.x5c) return undefined;
  let first: X509Certificate;
  try {
    [first] = jwk.x5c.map((der) => new X509Certificate(Buffer.from(der, 'base64')));
  } catch {
    return 'x5c: each entry must be a base64 DER certificate';
  }
  return first && spki(first.publicKey).equals(spki(key)) ? undefined : 'x5c: the first certificate must hold this key';
}

/** Why a registered certificate (PEM) cannot serve self_signed_tls_client_auth, or undefined when it can. */
export function pemCertificateProblem(pem: string): string | undefined {
  try {
    const certificates = readPemBundle(pem);
    return certificates.length === 1 ? undefined : 'must be exactly one PEM certificate';
  } catch {
    return 'is not a PEM certificate';
  }
}

/**
 * Whether a presented certificate is one a self_signed_tls_client_auth client
 * registered (RFC 8705 2.2): the same certificate (a JWK's x5c[0], or a PEM),
 * or a certificate for a registered bare key. The chain is not looked at:
 * the registration is the trust.
 */
export function matchesRegisteredCertificate(
  presented: X509Certificate,
  registered: { readonly jwks?: { readonly keys: readonly ({ readonly kty: string; readonly x5c?: readonly string[] } & Record<string, unknown>)[] }; readonly tlsClientCertificates?: readonly string[] },
): boolean {
  const der = presented.raw;
  for (const pem of registered.tlsClientCertificates ?? []) {
    try {
      if (readPemBundle(pem).some((certificate) => certificate.raw.equals(der))) return true;
    } catch {
      // a registration that no longer parses matches nothing
    }
  }
  const presentedKey = spki(presented.publicKey);
  for (const jwk of registered.jwks?.keys ?? []) {
    try {
      if (jwk.x5c) {
        if (Buffer.from(jwk.x5c[0]!, 'base64').equals(der)) return true;
        continue;
      }
      const { x5c: _x5c, ...members } = jwk;
      if (spki(createPublicKey({ key: members as JsonWebKey, format: 'jwk' })).equals(presentedKey)) return true;
    } catch {
      // likewise
    }
  }
  return false;
}
