import type { NextFunction, Request, Response } from 'express';
import type { BootstrapCredential } from '../auth/bootstrap-token.js';
import { PLATFORM_ADMINISTRATOR } from '../auth/bootstrap-token.js';
import type { Caller } from '../auth/caller.js';
import { AccessDeniedError } from '../http/errors.js';

const BEARER = /^Bearer ([\x21-\x7e]+)$/i;

export const callerOf = (res: Response): Caller => {
  const caller = res.locals.caller as Caller | undefined;
  if (!caller) throw new AccessDeniedError();
  return caller;
};

/** Resolve the bearer token to a caller, or answer 401. */
export const authenticate = (bootstrap: BootstrapCredential) =>
  function authenticateBearer(req: Request, res: Response, next: NextFunction): void {
    const match = BEARER.exec(req.get('authorization') ?? '');
    if (!match) return next(new AccessDeniedError());
    if (bootstrap.matches(match[1]!)) {
      res.locals.caller = PLATFORM_ADMINISTRATOR;
      return next();
    }
    next(new AccessDeniedError('the bearer token is not valid'));
  };
