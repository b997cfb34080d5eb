import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { NotFoundHttpError, toErrorResponse } from '../http/errors.js';

export function unknownRoute(req: Request, _res: Response, next: NextFunction): void {
  next(new NotFoundHttpError(`no route for ${req.method} ${req.path}`));
}

/** The last middleware: every error becomes the seed's error body; 5xx details stay in the log. */
export const renderErrors = (logger: Logger) =>
  function renderError(error: unknown, req: Request, res: Response, next: NextFunction): void {
    if (res.headersSent) return next(error);
    const { status, body, headers } = toErrorResponse(error);
    if (status >= 500) (req as Request & { log?: Logger }).log?.error({ err: error }, 'request failed') ?? logger.error({ err: error }, 'request failed');
    // An error answers this one request: no cache may keep it (RFC 6749 5.2 asks this of the token endpoint's errors).
    res.set({ 'Cache-Control': 'no-store', ...headers });
    res.status(status).json(body);
  };
