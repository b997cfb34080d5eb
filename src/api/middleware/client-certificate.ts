import { X509Certificate } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Request } from 'express';
import type { CertificateFacts } from '../../domain/application/tls-client-auth.js';
import { certificateFacts, chainsToBundle } from '../../infra/tls/certificate.js';

/** A certificate a request presented, with what matching needs and the certificate itself (for its public key). */
export type PresentedCertificate = CertificateFacts & { readonly x509: X509Certificate };

export interface ClientCertificateSettings {
  /**
   * The header a TLS-terminating proxy forwards the client's certificate in,
   * as URL-encoded PEM (nginx's $ssl_client_escaped_cert); unset: none is read.
   */
  readonly header?: string;
  /** The addresses (IPs or CIDRs) the header is believed from; from anywhere else it is ignored. */
  readonly trustedProxies: readonly string[];
  /**
   * The CAs tls_client_auth certificates must chain to (TLS_CLIENT_CA_FILE).
   * The TLS stack checks certificates of direct connections against them; a
   * forwarded certificate is checked against them here when they are set, and
   * is otherwise taken as verified by the proxy.
   */
  readonly clientCas?: readonly X509Certificate[];
}

/** An IPv4 address mapped into IPv6 (::ffff:10.0.0.1) is the IPv4 address. */
function plainAddress(address: string | undefined): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  if (!address) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const plain = mapped ? mapped[1]! : address;
  const version = isIP(plain);
  return version === 0 ? undefined : { address: plain, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** A BlockList of the trusted proxies; each entry an IP or a CIDR (validated by the configuration). */
export function trustedProxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/');
    const parsed = plainAddress(address);
    if (!parsed) throw new Error(`not an IP address: ${entry}`);
    if (prefix === undefined) list.addAddress(parsed.address, parsed.family);
    else list.addSubnet(parsed.address, Number(prefix), parsed.family);
  }
  return list;
}

/**
 * The client certificate of a request: the TLS peer's, or, from a trusted
 * proxy only, the one the proxy forwards in the configured header. Read once
 * per request.
 */
export class ClientCertificates {
  private readonly trusted: BlockList;
  private readonly seen = new WeakMap<Request, PresentedCertificate | null>();

  constructor(private readonly settings: ClientCertificateSettings) {
    this.trusted = trustedProxyList(settings.trustedProxies);
  }

  of(req: Request): PresentedCertificate | undefined {
    const known = this.seen.get(req);
    if (known !== undefined) return known ?? undefined;
    const found = this.read(req);
    this.seen.set(req, found ?? null);
    return found;
  }

  private fromTrustedProxy(req: Request): boolean {
    const peer = plainAddress(req.socket.remoteAddress);
    return peer !== undefined && this.trusted.check(peer.address, peer.family);
  }

  private read(req: Request): PresentedCertificate | undefined {
    const { header, clientCas } = this.settings;
    if (header !== undefined && this.fromTrustedProxy(req)) {
      const forwarded = parseForwardedCertificate(req.get(header));
      if (!forwarded) return undefined;
      const facts = certificateFacts(forwarded, clientCas ? chainsToBundle(forwarded, clientCas) : true);
      return facts && { ...facts, x509: forwarded };
    }
    const socket = req.socket as Partial<TLSSocket>;
    if (!socket.encrypted || typeof socket.getPeerX509Certificate !== 'function') return undefined;
    const peer = socket.getPeerX509Certificate();
    if (!peer) return undefined;
    // authorized: the TLS stack verified the chain against TLS_CLIENT_CA_FILE. A self-signed
    // certificate is not, and is still presented: self_signed_tls_client_auth matches it by key.
    const facts = certificateFacts(peer, socket.authorized === true);
    return facts && { ...facts, x509: peer };
  }
}

/** nginx's $ssl_client_escaped_cert: the PEM, URL-encoded. Anything else is no certificate. */
export function parseForwardedCertificate(value: string | undefined): X509Certificate | undefined {
  if (!value) return undefined;
  try {
    const pem = decodeURIComponent(value);
    const block = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
    return block ? new X509Certificate(block) : undefined;
  } catch {
    return undefined;
  }
}
