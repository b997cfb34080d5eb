import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { runWithRequestSource } from '../../commands/request-source.js';

/** Longer user agents are cut: a header must not make every event of a request big. */
export const USER_AGENT_MAX = 256;

/**
 * Puts the request's source in the request's async context so that the
 * events it causes carry `metadata.source`: the address as the throttle
 * counts it (the TCP peer's, or behind TRUSTED_PROXIES the forwarded one)
 * and the user agent (truncated).
 */
export function captureRequestSource(addressOf: (req: Request) => string): RequestHandler {
  return function recordRequestSource(req: Request, _res: Response, next: NextFunction) {
    const agent = req.get('user-agent');
    runWithRequestSource({ address: addressOf(req), userAgent: agent === undefined ? null : agent.slice(0, USER_AGENT_MAX) }, next);
  };
}
