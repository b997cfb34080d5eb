import { z } from 'zod';
import { DomainError } from '../../domain/shared/errors.js';

/** The seed's error body, shared by every endpoint. */
export const errorBodySchema = z
  .object({
    error: z.enum([
      'invalid_request', 'unauthorized_client', 'access_denied', 'unsupported_response_type', 'invalid_scope',
      'server_error', 'temporarily_unavailable', 'invalid_client', 'invalid_grant', 'unsupported_grant_type',
      'not_found', 'conflict', 'method_not_allowed', 'unsupported_media_type', 'forbidden',
    ]),
    error_description: z.string(),
  })
  .meta({ id: 'error' });
export type ErrorCode = z.infer<typeof errorBodySchema>['error'];

/** One class per error code; `toErrorResponse` is the one place that turns any error into a body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    description: string,
    /** Response headers some errors must carry, e.g. the WWW-Authenticate challenge of a 401 (RFC 6749 5.2). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(description);
  }
}
export class InvalidRequestError extends HttpError {
  constructor(description: string) { super(400, 'invalid_request', description); }
}
export class AccessDeniedError extends HttpError {
  /** `challenge`: the WWW-Authenticate header, e.g. error="invalid_token" when a token was sent (RFC 6750 3.1). */
  constructor(description = 'authentication is required: send a valid bearer token', challenge?: string) {
    super(401, 'access_denied', description, challenge === undefined ? {} : { 'WWW-Authenticate': challenge });
  }
}
export class ForbiddenHttpError extends HttpError {
  constructor(description = 'the caller may not do this') { super(403, 'forbidden', description); }
}
export class NotFoundHttpError extends HttpError {
  constructor(description = 'no such resource') { super(404, 'not_found', description); }
}
export class MethodNotAllowedError extends HttpError {
  constructor(description = 'method not allowed') { super(405, 'method_not_allowed', description); }
}
export class ConflictHttpError extends HttpError {
  constructor(description: string) { super(409, 'conflict', description); }
}
export class PayloadTooLargeError extends HttpError {
  constructor(description = 'request body exceeds 1 MiB') { super(413, 'invalid_request', description); }
}
export class UnsupportedMediaTypeError extends HttpError {
  constructor(description = 'request body must be application/json') { super(415, 'unsupported_media_type', description); }
}
/** OAuth 2.0 token endpoint errors (RFC 6749 5.2). */
export class InvalidClientError extends HttpError {
  /** `challenge`: the client tried HTTP Basic, so the 401 must say how to authenticate (RFC 6749 5.2). */
  constructor(description = 'client authentication failed', challenge?: string) {
    super(401, 'invalid_client', description, challenge === undefined ? {} : { 'WWW-Authenticate': challenge });
  }
}
export class InvalidGrantError extends HttpError {
  constructor(description: string) { super(400, 'invalid_grant', description); }
}
export class UnauthorizedClientError extends HttpError {
  constructor(description: string) { super(400, 'unauthorized_client', description); }
}
export class UnsupportedGrantTypeError extends HttpError {
  constructor(description: string) { super(400, 'unsupported_grant_type', description); }
}
export class InvalidScopeError extends HttpError {
  constructor(description: string) { super(400, 'invalid_scope', description); }
}

export class ServerError extends HttpError {
  constructor() { super(500, 'server_error', 'an unexpected error occurred; it has been logged'); }
}

const DOMAIN_STATUS = { not_found: NotFoundHttpError, conflict: ConflictHttpError, invalid: InvalidRequestError, forbidden: ForbiddenHttpError } as const;

/** Errors raised by express's body parser carry a `type`. */
const bodyParserError = (error: unknown): HttpError | undefined => {
  const type = (error as { type?: unknown })?.type;
  switch (type) {
    case 'entity.parse.failed':
      return new InvalidRequestError('request body is not valid JSON');
    case 'entity.too.large':
      return new PayloadTooLargeError();
    case 'parameters.too.many':
      return new PayloadTooLargeError('request body has too many form parameters');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new UnsupportedMediaTypeError('unsupported content encoding or charset');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new InvalidRequestError('request body could not be read');
    default:
      return undefined;
  }
};

export const describeZodError = (error: z.ZodError, where: string): string =>
  error.issues
    .map((issue) => {
      const path = issue.path.length ? issue.path.join('.') : where;
      return `${where === 'body' && issue.path.length ? 'body.' : ''}${path}: ${issue.message}`;
    })
    .join('; ');

export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof DomainError) return new DOMAIN_STATUS[error.kind](error.message);
  if (error instanceof z.ZodError) return new InvalidRequestError(describeZodError(error, 'request'));
  return bodyParserError(error) ?? new ServerError();
}

export function toErrorResponse(error: unknown): { status: number; body: z.infer<typeof errorBodySchema>; headers: Readonly<Record<string, string>> } {
  const http = toHttpError(error);
  return { status: http.status, body: { error: http.code, error_description: http.message }, headers: http.headers };
}
