import { z } from 'zod';
import { PasswordPolicyViolationError } from '../../domain/credentials/password-policy.js';
import { DomainError } from '../../domain/shared/errors.js';
import { HashQueueFullError } from '../../infra/crypto/hash-queue.js';
import { isTransientStoreError } from '../../ports/transient-errors.js';

/** The seed's error body, shared by every endpoint. */
export const errorBodySchema = z
  .object({
    error: z.enum([
      'invalid_request', 'unauthorized_client', 'access_denied', 'unsupported_response_type', 'invalid_scope',
      'server_error', 'temporarily_unavailable', 'invalid_client', 'invalid_grant', 'unsupported_grant_type',
      'not_found', 'conflict', 'method_not_allowed', 'unsupported_media_type', 'forbidden',
    ]),
    error_description: z.string(),
    /** A refused password: every rule of the password policy it breaks (docs/password-policy.md). */
    violations: z.array(z.object({ rule: z.string(), message: z.string() })).optional(),
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
  /** The rules a refused password breaks, for the body's `violations`. */
  violations?: readonly { readonly rule: string; readonly message: string }[];
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

/** A rate limit (RFC 6585): try again after Retry-After seconds. */
export class TooManyRequestsError extends HttpError {
  constructor(retryAfterSeconds: number, description = 'too many attempts; try again later') {
    super(429, 'temporarily_unavailable', description, { 'Retry-After': String(retryAfterSeconds) });
  }
}
/** Load shed: the service is busy; try again after Retry-After seconds. */
export class ServiceBusyError extends HttpError {
  constructor(retryAfterSeconds: number, description = 'the service is busy; try again in a moment') {
    super(503, 'temporarily_unavailable', description, { 'Retry-After': String(retryAfterSeconds) });
  }
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
    // A form nested deeper than the parser allows (the OAuth endpoints take flat forms).
    case 'querystring.parse.rangeError':
      return new InvalidRequestError('request body is nested too deeply');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new InvalidRequestError('request body could not be read');
    default:
      // A body that says it is compressed and is not: zlib's error, which the parser passes on with status 400.
      // (gzip and deflate say Z_DATA_ERROR and the like, brotli ERR__ERROR_FORMAT_…).
      if ((error as { status?: unknown }).status === 400 && /^(Z_|ERR_)/.test(String((error as { code?: unknown }).code))) {
        return new InvalidRequestError('request body could not be decompressed as its Content-Encoding says');
      }
      return undefined;
  }
};

/** At most this many problems are described, each at most this long: a large bad request gets a small answer. */
const MAX_DESCRIBED_ISSUES = 10;
const MAX_ISSUE_LENGTH = 200;

const bounded = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text);

/** An issue's message; unknown keys are named a few at a time, however many there were. */
const issueMessage = (issue: z.core.$ZodIssue): string => {
  if (issue.code !== 'unrecognized_keys') return issue.message;
  const named = issue.keys.slice(0, 3).map((key) => JSON.stringify(bounded(key, 24)));
  const more = issue.keys.length - named.length;
  return `unknown key${issue.keys.length > 1 ? 's' : ''} ${named.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
};

export const describeZodError = (error: z.ZodError, where: string): string => {
  const described = error.issues.slice(0, MAX_DESCRIBED_ISSUES).map((issue) => {
    const path = issue.path.length ? issue.path.map((part) => bounded(String(part), 64)).join('.') : where;
    return bounded(`${where === 'body' && issue.path.length ? 'body.' : ''}${path}: ${issueMessage(issue)}`, MAX_ISSUE_LENGTH);
  });
  const more = error.issues.length - described.length;
  return described.join('; ') + (more > 0 ? `; and ${more} more` : '');
};

export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof PasswordPolicyViolationError) return Object.assign(new InvalidRequestError(error.message), { violations: error.violations });
  if (error instanceof DomainError) return new DOMAIN_STATUS[error.kind](error.message);
  if (error instanceof z.ZodError) return new InvalidRequestError(describeZodError(error, 'request'));
  if (error instanceof HashQueueFullError) return new ServiceBusyError(error.retryAfterSeconds, error.message);
  // The event store or database said "not now" (and the pipeline's retries did not outlast it).
  if (isTransientStoreError(error)) return new ServiceBusyError(1, 'the service cannot reach its storage right now; try again in a moment');
  return bodyParserError(error) ?? new ServerError();
}

export function toErrorResponse(error: unknown): { status: number; body: z.infer<typeof errorBodySchema>; headers: Readonly<Record<string, string>> } {
  const http = toHttpError(error);
  return {
    status: http.status,
    body: { error: http.code, error_description: http.message, ...(http.violations !== undefined && { violations: http.violations.map(({ rule, message }) => ({ rule, message })) }) },
    headers: http.headers,
  };
}
