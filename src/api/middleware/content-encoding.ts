import type { NextFunction, Request, Response } from 'express';
import { UnsupportedMediaTypeError } from '../http/errors.js';

/** The encodings a request body may come in: what the body parsers can decompress. */
const SUPPORTED = new Set(['identity', 'gzip', 'deflate', 'br']);

/** Any route, before anything reads the body or authenticates: a body in an encoding we cannot read is a 415. */
export function checkContentEncoding(req: Request, _res: Response, next: NextFunction): void {
  const encoding = req.get('content-encoding');
  if (encoding === undefined) return next();
  const codings = encoding.toLowerCase().split(',').map((coding) => coding.trim());
  // One coding only: the parsers undo exactly one layer.
  if (codings.length !== 1 || !SUPPORTED.has(codings[0]!)) {
    return next(new UnsupportedMediaTypeError('unsupported Content-Encoding: send identity, gzip, deflate or br'));
  }
  next();
}
