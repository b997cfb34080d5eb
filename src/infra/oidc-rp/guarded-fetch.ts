import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { rootCertificates } from 'node:tls';
import { isInternalAddress, literalUrlProblem } from '../net/address-guard.js';

/**
 * The one way this service calls an identity provider a tenant chose:
 * openid-client's `customFetch`. Every request
 *
 * - goes to a URL the address guard accepts (https, no credentials; unless
 *   private networks are allowed, no internal literal or name);
 * - connects only to an address the guard accepts: the check runs in the
 *   socket's DNS lookup, on the very addresses it will connect to (no DNS
 *   rebinding between a check and the call);
 * - trusts the system CAs plus the extra ones configured (IDENTITY_PROVIDER_CA_FILE);
 * - ends after a timeout, and is cut off beyond a response size limit.
 */
export interface OutboundPolicy {
  readonly allowPrivateNetworks: boolean;
  /** Extra CA certificates (PEM) upstream TLS may chain to, beside the system's. */
  readonly extraCa?: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  /** Name resolution (node:dns lookup by default); the tests give a resolver that answers what they need. */
  readonly lookup?: typeof dnsLookup;
}

export class OutboundRequestError extends Error {
  override readonly name = 'OutboundRequestError';
}

type FetchInit = { body?: unknown; headers?: Record<string, string>; method?: string; redirect?: string; signal?: AbortSignal | null };

export function guardedFetch(policy: OutboundPolicy) {
  const lookup: LookupFunction = (hostname, options, callback) => {
    (policy.lookup ?? dnsLookup)(hostname, { ...options, all: true, verbatim: true }, (error, addresses) => {
      if (error) return (callback as (e: NodeJS.ErrnoException | null, a: LookupAddress[]) => void)(error, []);
      const list = addresses as unknown as LookupAddress[];
      if (!policy.allowPrivateNetworks && list.some((a) => isInternalAddress(a.address))) {
        const refused = Object.assign(new OutboundRequestError(`${hostname} resolves to a loopback, link-local or private address`), { code: 'EADDRNOTALLOWED' });
        return (callback as (e: NodeJS.ErrnoException | null, a: LookupAddress[]) => void)(refused, []);
      }
      if ((options as { all?: boolean }).all) return (callback as (e: null, a: LookupAddress[]) => void)(null, list);
      const first = list[0]!;
      return (callback as (e: null, a: string, f: number) => void)(null, first.address, first.family);
    });
  };

  return async function fetchUpstream(url: string, init: FetchInit = {}): Promise<Response> {
    const problem = literalUrlProblem(url, { allowPrivateNetworks: policy.allowPrivateNetworks });
    if (problem) throw new OutboundRequestError(`identity provider URL ${problem}`);
    const target = new URL(url);
    const host = target.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && !policy.allowPrivateNetworks && isInternalAddress(host)) throw new OutboundRequestError('identity provider address is internal');
    const body = init.body === undefined || init.body === null ? undefined : typeof init.body === 'string' ? init.body : String(init.body);
    const requestFn = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        reject(error instanceof OutboundRequestError ? error : new OutboundRequestError(error.message));
      };
      const req = requestFn(
        target,
        {
          method: init.method ?? 'GET',
          headers: { ...init.headers, ...(body !== undefined && { 'content-length': String(Buffer.byteLength(body)) }) },
          lookup,
          timeout: policy.timeoutMs,
          ...(policy.extraCa !== undefined && target.protocol === 'https:' && { ca: [...rootCertificates, policy.extraCa] }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > policy.maxResponseBytes) {
              req.destroy();
              fail(new OutboundRequestError('identity provider response too large'));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', fail);
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(overall);
            const headers = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              if (value === undefined) continue;
              for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
            }
            const status = res.statusCode ?? 502;
            const noBody = status === 204 || status === 304;
            const response = new Response(noBody ? null : Buffer.concat(chunks), { status, headers });
            Object.defineProperty(response, 'url', { value: url });
            resolve(response);
          });
        },
      );
      // A whole-request deadline too: a server trickling bytes does not hold a login forever.
      const overall = setTimeout(() => {
        req.destroy();
        fail(new OutboundRequestError('identity provider did not answer in time'));
      }, policy.timeoutMs);
      req.on('timeout', () => {
        req.destroy();
        fail(new OutboundRequestError('identity provider did not answer in time'));
      });
      req.on('error', (error) => {
        clearTimeout(overall);
        fail(error);
      });
      init.signal?.addEventListener('abort', () => {
        req.destroy();
        fail(new OutboundRequestError('aborted'));
      });
      if (body !== undefined) req.write(body);
      req.end();
    });
  };
}

