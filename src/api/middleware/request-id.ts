import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Use the caller's X-Request-Id when it is sane, else a new uuid (v4: `crypto.randomUUID`,
 * from a pooled random buffer, a tenth of `uuid`'s v7; nothing reads time from it); echo it back.
 */
export function assignRequestId(req: Request, res: Response, next: NextFunction): void {
  const incoming = req.get('x-request-id');
  const id = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  (req as Request & { id: string }).id = id;
  res.setHeader('X-Request-Id', id);
  next();
}
