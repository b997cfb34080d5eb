import type { NextFunction, Request, Response } from 'express';
import type { Caller } from '../auth/caller.js';
import { AccessDeniedError } from '../http/errors.js';

const BEARER = /^Bearer ([\x21-\x7e]+)$/i;

/**
 * Turns a bearer token into a caller, or undefined when the token is not one of its kind (or not
 * good on this request: a certificate-bound token needs the request's client certificate, RFC 8705).
 */
export type CredentialResolver = (token: string, req?: Request) => Promise<Caller | undefined> | Caller | undefined;

/** RFC 6750 3.1: a token was sent and is no good. */
const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"';

export const callerOf = (res: Response): Caller => {
  const caller = res.locals.caller as Caller | undefined;
  if (!caller) throw new AccessDeniedError();
  return caller;
};

/** Resolve the bearer token to a caller with the first resolver that knows it, or answer 401. */
export const authenticate = (resolvers: readonly CredentialResolver[]) =>
  async function authenticateBearer(req: Request, res: Response, next: NextFunction): Promise<void> {
    const match = BEARER.exec(req.get('authorization') ?? '');
    if (!match) return next(new AccessDeniedError());
    try {
      for (const resolve of resolvers) {
        const caller = await resolve(match[1]!, req);
        if (caller) {
          res.locals.caller = caller;
          return next();
        }
      }
      next(new AccessDeniedError('the bearer token is not valid, has expired or was revoked', INVALID_TOKEN));
    } catch (error) {
      next(error);
    }
  };
