import type { NextFunction, Request, Response } from 'express';
import type { Caller } from '../auth/caller.js';
import { AccessDeniedError } from '../http/errors.js';

const BEARER = /^Bearer ([\x21-\x7e]+)$/i;

/** Turns a bearer token into a caller, or undefined when the token is not one of its kind. */
export type CredentialResolver = (token: string) => Promise<Caller | undefined> | Caller | undefined;

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
        const caller = await resolve(match[1]!);
        if (caller) {
          res.locals.caller = caller;
          return next();
        }
      }
      next(new AccessDeniedError('the bearer token is not valid, has expired or was revoked'));
    } catch (error) {
      next(error);
    }
  };
