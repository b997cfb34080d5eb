import { BlockList, isIP } from 'node:net';
import { lookup } from 'node:dns/promises';

/**
 * Addresses a tenant may not make this service call: loopback, link-local
 * (cloud metadata at 169.254.169.254 among them), private, shared, unspecified,
 * multicast and reserved ranges, in IPv4 and IPv6, IPv4-mapped IPv6 included.
 */
const INTERNAL = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv6');
}

/** Whether an IP address (v4 or v6, brackets removed) is internal. */
export function isInternalAddress(address: string): boolean {
  const version = isIP(address);
  if (version === 0) return false;
  if (version === 6) {
    const mapped = /^::ffff:(?:0:)?((?:\d{1,3}\.){3}\d{1,3})$/i.exec(address)?.[1] ?? mappedHex(address);
    if (mapped) return INTERNAL.check(mapped, 'ipv4');
    return INTERNAL.check(address, 'ipv6');
  }
  return INTERNAL.check(address, 'ipv4');
}

/** ::ffff:7f00:1, as the URL parser writes ::ffff:127.0.0.1, back to dotted IPv4. */
function mappedHex(address: string): string | undefined {
  const match = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!match) return undefined;
  const high = parseInt(match[1]!, 16);
  const low = parseInt(match[2]!, 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** Names that never leave the machine or the site, whatever DNS says. */
const INTERNAL_NAMES = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)\.?$/i;

export interface OutboundUrlPolicy {
  /** Allow private and loopback addresses (an on-premises identity provider); the scheme must still be https. */
  readonly allowPrivateNetworks: boolean;
  /** How long to wait for DNS before accepting a name that does not resolve now (it is checked again when it is called). */
  readonly lookupTimeoutMs?: number;
}

/**
 * Why a URL a tenant chose may not be called by this service, or undefined if
 * it may: https only; no credentials in it; and, unless the policy allows
 * private networks, no host that is, or resolves to, an internal address.
 * A name that does not resolve now is accepted: the check is repeated at the
 * moment of the call, on the address actually connected to.
 */
export async function outboundUrlProblem(url: string, policy: OutboundUrlPolicy): Promise<string | undefined> {
  const literal = literalUrlProblem(url, policy);
  if (literal !== undefined || policy.allowPrivateNetworks) return literal;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return undefined;
  const addresses = await resolveWithin(host, policy.lookupTimeoutMs ?? 1500);
  if (addresses.some(isInternalAddress)) return `must not resolve to a loopback, link-local or private address (${host} does)`;
  return undefined;
}

/** What can be told without DNS: the scheme, credentials, an internal IP literal or an internal name. */
export function literalUrlProblem(url: string, policy: OutboundUrlPolicy): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'https:') return 'must be an https URL';
  if (parsed.username || parsed.password) return 'must not carry credentials';
  if (policy.allowPrivateNetworks) return undefined;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) ? isInternalAddress(host) : INTERNAL_NAMES.test(host)) return 'must not point to a loopback, link-local or private address';
  return undefined;
}

async function resolveWithin(host: string, timeoutMs: number): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), timeoutMs);
  });
  try {
    const lookedUp = lookup(host, { all: true, verbatim: true }).then(
      (results) => results.map((r) => r.address),
      () => [] as string[],
    );
    return await Promise.race([lookedUp, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
