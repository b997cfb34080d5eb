import { InvalidCommandError } from '../domain/shared/errors.js';

/**
 * The query languages' errors. Each is a request the caller got wrong, so each
 * is an InvalidCommandError: the API answers 400 invalid_request with the message.
 */

/** A filterBy, sortBy or search parameter that does not parse or names an unknown field. */
export class InvalidListQueryError extends InvalidCommandError {
  override readonly name: string = 'InvalidListQueryError';
}

/**
 * A filter expression that does not parse, names an unknown field or compares
 * a field with a value of another type: the message names the offset (0-based,
 * in UTF-16 code units) and what was expected there.
 */
export class FilterExpressionError extends InvalidCommandError {
  override readonly name: string = 'FilterExpressionError';
  constructor(
    /** Where in the expression, 0-based. */
    readonly offset: number,
    /** What the parser expected there, or what was wrong. */
    readonly expected: string,
    /** What it found, when it found something else. */
    readonly found?: string,
  ) {
    super(`filter_expression: at offset ${offset}: expected ${expected}${found === undefined ? '' : `, found ${found}`}`);
  }
}

/** A filter expression over a limit (its length, its nesting, the values of an IN list). */
export class FilterExpressionLimitError extends InvalidCommandError {
  override readonly name: string = 'FilterExpressionLimitError';
}

/** A cursor that is not one of ours, is damaged, or belongs to another sort. */
export class InvalidCursorError extends InvalidCommandError {
  override readonly name: string = 'InvalidCursorError';
}
