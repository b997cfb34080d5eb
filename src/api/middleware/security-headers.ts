import type { NextFunction, Request, Response } from 'express';

/** Every response: browsers must take the declared content type as it is, never guess (a JSON 404 echoes the path). */
export function noSniff(_req: Request, res: Response, next: NextFunction): void {
  res.set('X-Content-Type-Options', 'nosniff');
  next();
}
