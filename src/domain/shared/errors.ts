/**
 * Typed domain errors thrown by decide functions and command handlers. The API
 * layer maps each kind to one HTTP status in one place (src/api/http/errors.ts).
 */
export abstract class DomainError extends Error {
  abstract readonly kind: 'not_found' | 'conflict' | 'invalid' | 'forbidden';
}

export class NotFoundError extends DomainError {
  readonly kind = 'not_found' as const;
  override readonly name: string = 'NotFoundError';
}

/** The command clashes with the current state: a duplicate name, a resource being deleted. */
export class ConflictError extends DomainError {
  readonly kind = 'conflict' as const;
  override readonly name: string = 'ConflictError';
}

/** The command is well-formed but breaks a business rule. */
export class InvalidCommandError extends DomainError {
  readonly kind = 'invalid' as const;
  override readonly name: string = 'InvalidCommandError';
}

export class ForbiddenError extends DomainError {
  readonly kind = 'forbidden' as const;
  override readonly name: string = 'ForbiddenError';
}

/** The stream kept changing under us: every retry met a newer revision. */
export class ConcurrencyError extends ConflictError {
  override readonly name: string = 'ConcurrencyError';
}
