import type { NextFunction, Request, Response } from 'express';
import { UnsupportedMediaTypeError } from '../http/errors.js';

/** The media types of a JSON body: JSON, and JSON merge patch (RFC 7396) for PATCH. */
export const JSON_TYPES = ['application/json', 'application/merge-patch+json'];

/** A request that carries a body must say it is JSON. */
export function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = req.get('content-length') !== undefined ? Number(req.get('content-length')) > 0 : req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.is(JSON_TYPES)) return next(new UnsupportedMediaTypeError());
  next();
}
