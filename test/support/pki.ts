import 'reflect-metadata';
import { createHash, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** Certificates made by the test itself: a CA, a server certificate, client certificates (CA-issued and self-signed). */
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type KeyPair = { publicKey: webcrypto.CryptoKey; privateKey: webcrypto.CryptoKey };

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;

export interface Issued {
  /** The certificate, PEM. */
  readonly cert: string;
  /** Its private key, PKCS#8 PEM. */
  readonly key: string;
  readonly der: Buffer;
  /** base64url(SHA-256(DER)): the x5t#S256 a bound token carries. */
  readonly thumbprint: string;
  /** The public key as a JWK, without x5c. */
  readonly publicJwk: Record<string, unknown>;
  readonly x509: NodeX509;
}

export interface Ca extends Issued {
  readonly keys: KeyPair;
  readonly name: string;
}

export interface SubjectOptions {
  /** RFC 4514 style, most significant last as written: "CN=svc, O=Acme". */
  readonly subject: string;
  readonly san?: { dns?: string[]; ip?: string[]; uri?: string[]; email?: string[] };
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

const newKeys = () => webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as Promise<KeyPair>;

async function finish(cert: x509.X509Certificate, keys: KeyPair): Promise<Issued> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  const der = Buffer.from(cert.rawData);
  const { d: _d, key_ops: _ops, ext: _ext, ...publicJwk } = (await webcrypto.subtle.exportKey('jwk', keys.privateKey)) as Record<string, unknown>;
  return { cert: cert.toString('pem'), key, der, thumbprint: createHash('sha256').update(der).digest('base64url'), publicJwk, x509: new NodeX509(der) };
}

function sanExtension(san: SubjectOptions['san']): x509.Extension[] {
  if (!san) return [];
  const names = [
    ...(san.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(san.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(san.uri ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(san.email ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  return [new x509.SubjectAlternativeNameExtension(names)];
}

export async function createCa(name = 'CN=Test Client CA, O=Identity Tests'): Promise<Ca> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys,
    signingAlgorithm: ALGORITHM,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return { ...(await finish(cert, keys)), keys, name };
}

/** A certificate issued by the CA (a server's or a client's). */
export async function issue(ca: Ca, options: SubjectOptions): Promise<Issued> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    subject: options.subject,
    issuer: ca.name,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALGORITHM,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 30 * DAY),
    extensions: [new x509.BasicConstraintsExtension(false), ...sanExtension(options.san)],
  });
  return finish(cert, keys);
}

/** A self-signed client certificate. */
export async function selfSigned(options: SubjectOptions): Promise<Issued> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: options.subject,
    keys,
    signingAlgorithm: ALGORITHM,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 30 * DAY),
    extensions: [new x509.BasicConstraintsExtension(false), ...sanExtension(options.san)],
  });
  return finish(cert, keys);
}

/** The PEM as a proxy forwards it (nginx's $ssl_client_escaped_cert). */
export const escapedPem = (issued: Issued): string => encodeURIComponent(issued.cert);
