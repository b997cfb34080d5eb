import type { Filter } from '../../../ports/read-models.js';
import { InvalidRequestError } from '../../http/errors.js';

/**
 * The seeds' compact filter syntax: `filterBy` is repeatable, and one value may
 * hold several terms separated by commas, all of which must hold (AND):
 *
 *   filterBy=username=@test,lastLogin>=2024-09-24T00:00:00.00Z,isLocal==false
 *
 * A term is <field><op><value> with op one of == != <= >= =@ (contains).
 * Every comma separates two terms (a value cannot hold one), so that a typo
 * such as `isLocal=false` after a comma is a 400 rather than part of the
 * value before it. Each term compiles to a MongoDB query document over the
 * read model (src/ports/read-models.ts), through the field's own mapping.
 */
export const OPERATORS = ['==', '!=', '<=', '>=', '=@'] as const;
export type Operator = (typeof OPERATORS)[number];

export interface Term {
  readonly field: string;
  readonly op: Operator;
  readonly value: string;
  /** The term as written, for error messages. */
  readonly text: string;
}

const TERM = /^([A-Za-z][A-Za-z0-9_.]*)(==|!=|<=|>=|=@)(.*)$/s;

/** Split one filterBy value into its terms (every comma separates two); a part that is not a term is a 400 naming it. */
export function parseFilterBy(expression: string): Term[] {
  return expression.split(',').map((text) => {
    const match = TERM.exec(text);
    if (!match) throw new InvalidRequestError(`filterBy: "${text}" is not a term: expected <field><op><value> with op one of ${OPERATORS.join(' ')}`);
    const [, field, op, value] = match as unknown as [string, string, Operator, string];
    return { field, op, value, text };
  });
}

export type FieldKind = 'string' | 'date' | 'boolean';

/** How a public field filters and sorts: a document path, or its own compile for computed fields. */
export interface CompatField {
  readonly kind: FieldKind;
  /** The document path it is stored at (sorting; the default compile). */
  readonly path?: string;
  /** Computed fields: the query for a parsed value (`negate` for !=). */
  readonly compile?: (op: Operator, value: string | boolean) => Filter;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function valueOf(term: Term, kind: FieldKind): string | boolean {
  switch (kind) {
    case 'string':
      return term.value;
    case 'date': {
      const time = Date.parse(term.value);
      if (!ISO_8601.test(term.value) || Number.isNaN(time)) throw new InvalidRequestError(`filterBy "${term.text}": "${term.value}" is not an ISO 8601 date`);
      // Stored as ISO strings in UTC, so they compare as strings.
      return new Date(time).toISOString();
    }
    case 'boolean':
      if (term.value !== 'true' && term.value !== 'false') throw new InvalidRequestError(`filterBy "${term.text}": "${term.value}" is not true or false`);
      return term.value === 'true';
  }
}

/** The query for one term, or a 400 naming it. */
export function compileTerm(term: Term, fields: Readonly<Record<string, CompatField>>): Filter {
  const field = Object.hasOwn(fields, term.field) ? fields[term.field] : undefined;
  if (!field) throw new InvalidRequestError(`filterBy "${term.text}": unknown field "${term.field}"; fields: ${Object.keys(fields).join(', ')}`);
  if (term.op === '=@' && field.kind !== 'string') throw new InvalidRequestError(`filterBy "${term.text}": =@ (contains) applies to text fields only`);
  if ((term.op === '<=' || term.op === '>=') && field.kind === 'boolean') throw new InvalidRequestError(`filterBy "${term.text}": ${term.op} does not apply to true/false fields`);
  const value = term.op === '=@' ? term.value : valueOf(term, field.kind);
  if (field.compile) return field.compile(term.op, value);
  const path = field.path!;
  switch (term.op) {
    case '=@':
      return { [path]: { $regex: escapeRegex(String(value)), $options: 'i' } };
    case '==':
      return { [path]: value };
    case '!=':
      return { [path]: { $ne: value } };
    case '<=':
      return { [path]: { $lte: value } };
    case '>=':
      return { [path]: { $gte: value } };
  }
}

/** Every filterBy value's terms, ANDed. */
export function compileFilterBy(values: readonly string[], fields: Readonly<Record<string, CompatField>>): Filter[] {
  return values.flatMap((value) => parseFilterBy(value)).map((term) => compileTerm(term, fields));
}

/** For computed true/false fields: == and != over a query that says "true". */
export const booleanField = (whenTrue: Filter, whenFalse: Filter): CompatField => ({
  kind: 'boolean',
  compile: (op, value) => ((op === '==') === (value === true) ? whenTrue : whenFalse),
});
