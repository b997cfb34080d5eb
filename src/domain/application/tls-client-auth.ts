/**
 * RFC 8705 mutual-TLS client authentication, the pure part: how a client
 * authenticates at the token endpoint, what identifies a tls_client_auth
 * client's certificate (exactly one of a subject DN or a SAN, 2.1.2), and
 * whether a presented certificate's facts match. Reading a certificate (DER)
 * is the infrastructure's job (src/infra/tls/certificate.ts).
 */

export const TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'tls_client_auth', 'self_signed_tls_client_auth', 'none'] as const;
export type TokenEndpointAuthMethod = (typeof TOKEN_ENDPOINT_AUTH_METHODS)[number];

/** What proves a client: a secret, a certificate, or nothing (public, PKCE). The kind never changes once registered. */
export type ClientCredentialKind = 'secret' | 'certificate' | 'none';

export const credentialKind = (method: TokenEndpointAuthMethod): ClientCredentialKind =>
  method === 'none' ? 'none' : method === 'tls_client_auth' || method === 'self_signed_tls_client_auth' ? 'certificate' : 'secret';

/** The registration of an application written before these settings existed. */
export const defaultAuthMethod = (isPublic: boolean): TokenEndpointAuthMethod => (isPublic ? 'none' : 'client_secret_basic');

/** The fields that name a tls_client_auth client's certificate; exactly one is set (RFC 8705 2.1.2). */
export const TLS_CLIENT_AUTH_FIELDS = ['tlsClientAuthSubjectDN', 'tlsClientAuthSanDNS', 'tlsClientAuthSanURI', 'tlsClientAuthSanIP', 'tlsClientAuthSanEmail'] as const;
export type TlsClientAuthField = (typeof TLS_CLIENT_AUTH_FIELDS)[number];
export type TlsClientAuthIdentity = Partial<Record<TlsClientAuthField, string>>;

/** One attribute of a distinguished name: its type (a short name such as CN, or a dotted OID) and its value. */
export interface DnAttribute {
  readonly type: string;
  readonly value: string;
}
/** Relative distinguished names, most significant first (C, O, ..., CN: the order of the certificate). */
export type DistinguishedName = readonly (readonly DnAttribute[])[];

/** The facts about a presented certificate that client authentication needs. */
export interface CertificateFacts {
  /** base64url(SHA-256(DER)): the x5t#S256 a bound token carries (RFC 8705 3.1). */
  readonly thumbprint: string;
  readonly der: Uint8Array;
  readonly subject: DistinguishedName;
  readonly san: { readonly dns: readonly string[]; readonly uri: readonly string[]; readonly ip: readonly string[]; readonly email: readonly string[] };
  /** Whether its chain was verified against the configured client CAs (by our TLS stack, or by us for a forwarded certificate). */
  readonly chainVerified: boolean;
}

/** Attribute types by OID, as RFC 4514 (and common practice) spells them. */
export const DN_ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'TITLE',
  '2.5.4.42': 'GIVENNAME',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'EMAILADDRESS',
};
const NAME_ALIASES: Readonly<Record<string, string>> = { E: 'EMAILADDRESS', S: 'ST', SURNAME: 'SN', USERID: 'UID' };
const KNOWN_NAMES = new Set(Object.values(DN_ATTRIBUTE_NAMES));
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** A type as written (cn, 2.5.4.3, OID.2.5.4.3) in the one form comparisons use. */
export function normalizeDnType(type: string): string | undefined {
  const trimmed = type.trim().replace(/^oid\./i, '');
  if (/^\d+(\.\d+)+$/.test(trimmed)) return DN_ATTRIBUTE_NAMES[trimmed] ?? trimmed;
  const upper = trimmed.toUpperCase();
  const name = NAME_ALIASES[upper] ?? upper;
  return KNOWN_NAMES.has(name) ? name : undefined;
}

/**
 * Parse an RFC 4514 string ("CN=svc,O=Acme\, Inc.,C=DE": least significant
 * first) into RDNs in certificate order; undefined when it is not one.
 */
export function parseDistinguishedName(text: string): DistinguishedName | undefined {
  if (text.trim() === '') return undefined;
  const rdns: DnAttribute[][] = [];
  let current: DnAttribute[] = [];
  let i = 0;
  const length = text.length;
  while (i < length) {
    // type
    const eq = text.indexOf('=', i);
    if (eq < 0) return undefined;
    const type = normalizeDnType(text.slice(i, eq));
    if (!type) return undefined;
    i = eq + 1;
    // The value, with RFC 4514 escapes (\, and \2C alike), kept as UTF-8 bytes; a #hex value is not supported.
    while (i < length && text[i] === ' ') i++;
    if (text[i] === '#') return undefined;
    const bytes: number[] = [];
    /** Bytes up to the last escape: trailing spaces before it are part of the value. */
    let kept = 0;
    while (i < length) {
      const ch = text[i]!;
      if (ch === ',' || ch === '+' || ch === ';') break;
      if (ch === '"' || ch === '<' || ch === '>') return undefined;
      if (ch === '\\') {
        const hex = text.slice(i + 1, i + 3);
        if (/^[0-9a-fA-F]{2}$/.test(hex)) {
          bytes.push(parseInt(hex, 16));
          i += 3;
        } else if (i + 1 < length) {
          bytes.push(...encoder.encode(text[i + 1]!));
          i += 2;
        } else return undefined;
        kept = bytes.length;
        continue;
      }
      const point = text.codePointAt(i)!;
      const char = String.fromCodePoint(point);
      bytes.push(...encoder.encode(char));
      i += char.length;
    }
    let end = bytes.length;
    while (end > kept && bytes[end - 1] === 0x20) end--;
    const value = decoder.decode(Uint8Array.from(bytes.slice(0, end)));
    if (value === '') return undefined;
    current.push({ type, value });
    if (i >= length) break;
    const separator = text[i];
    i++;
    if (i >= length) return undefined; // a trailing separator
    while (text[i] === ' ') i++;
    if (separator !== '+') {
      rdns.push(current);
      current = [];
    }
  }
  rdns.push(current);
  return rdns.reverse();
}

/** Values compare as LDAP's caseIgnoreMatch does: case and runs of spaces do not matter. */
const comparable = (value: string) => value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
const rdnKey = (rdn: readonly DnAttribute[]) =>
  rdn
    .map((attribute) => `${attribute.type}=${comparable(attribute.value)}`)
    .sort()
    .join('+');

export const sameDistinguishedName = (a: DistinguishedName, b: DistinguishedName): boolean =>
  a.length === b.length && a.every((rdn, index) => rdnKey(rdn) === rdnKey(b[index]!));

/** An IP address in one canonical spelling (IPv6 compressed, lower case); undefined when it is not one. */
export function canonicalIp(address: string): string | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) {
    return address.split('.').every((octet) => Number(octet) <= 255 && String(Number(octet)) === octet) ? address : undefined;
  }
  if (!/^[0-9a-fA-F:.]+$/.test(address) || !address.includes(':')) return undefined;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** The one identity field a tls_client_auth registration sets, or why the registration is wrong. */
export function tlsClientAuthProblem(identity: TlsClientAuthIdentity): string | undefined {
  const set = TLS_CLIENT_AUTH_FIELDS.filter((field) => identity[field] !== undefined);
  if (set.length !== 1) return `exactly one of ${TLS_CLIENT_AUTH_FIELDS.join(', ')} is required with tls_client_auth (RFC 8705 2.1.2)`;
  const field = set[0]!;
  const value = identity[field]!;
  switch (field) {
    case 'tlsClientAuthSubjectDN':
      return parseDistinguishedName(value) ? undefined : 'tlsClientAuthSubjectDN is not an RFC 4514 distinguished name with known attribute types';
    case 'tlsClientAuthSanIP':
      return canonicalIp(value) ? undefined : 'tlsClientAuthSanIP is not an IPv4 or IPv6 address';
    case 'tlsClientAuthSanURI':
      return /^[a-z][a-z0-9+.-]*:\S+$/i.test(value) ? undefined : 'tlsClientAuthSanURI is not an absolute URI';
    case 'tlsClientAuthSanEmail':
      return /^[^\s@]+@[^\s@]+$/.test(value) ? undefined : 'tlsClientAuthSanEmail is not an email address';
    case 'tlsClientAuthSanDNS':
      return /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(value) ? undefined : 'tlsClientAuthSanDNS is not a DNS name';
    default:
      return undefined;
  }
}

const lowerDomain = (email: string) => {
  const at = email.lastIndexOf('@');
  return at < 0 ? email : `${email.slice(0, at)}@${email.slice(at + 1).toLowerCase()}`;
};

/**
 * Whether a certificate proves a tls_client_auth client: its chain was
 * verified against the trusted client CAs, and it carries the registered
 * subject DN or SAN (compared exactly; DNS names and email domains without case).
 */
export function matchesTlsClientAuth(certificate: CertificateFacts, identity: TlsClientAuthIdentity): boolean {
  if (!certificate.chainVerified || tlsClientAuthProblem(identity) !== undefined) return false;
  const { tlsClientAuthSubjectDN, tlsClientAuthSanDNS, tlsClientAuthSanURI, tlsClientAuthSanIP, tlsClientAuthSanEmail } = identity;
  if (tlsClientAuthSubjectDN !== undefined) return sameDistinguishedName(certificate.subject, parseDistinguishedName(tlsClientAuthSubjectDN)!);
  if (tlsClientAuthSanDNS !== undefined) return certificate.san.dns.some((name) => name.toLowerCase() === tlsClientAuthSanDNS.toLowerCase());
  if (tlsClientAuthSanURI !== undefined) return certificate.san.uri.includes(tlsClientAuthSanURI);
  if (tlsClientAuthSanIP !== undefined) return certificate.san.ip.some((ip) => canonicalIp(ip) === canonicalIp(tlsClientAuthSanIP));
  if (tlsClientAuthSanEmail !== undefined) return certificate.san.email.some((email) => lowerDomain(email) === lowerDomain(tlsClientAuthSanEmail));
  return false;
}
