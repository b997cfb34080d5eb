import type { Filter } from '../../ports/read-models.js';
import { FilterExpressionError } from '../errors.js';
import { type FieldType, fieldNamed, isSearchable, type ListField, type ListFields, type ScalarField } from '../fields.js';
import { escapeRegex } from '../regex.js';
import type { ComparisonOperator, Expression, Literal, Value } from './ast.js';
import { datetimeOf, parseFilterExpression } from './parser.js';
import { describeFound } from './tokenizer.js';

export { MAX_EXPRESSION_LENGTH, MAX_IN_VALUES, MAX_NESTING_DEPTH } from './parser.js';

/**
 * Filter expressions compiled to MongoDB query documents over the declared
 * fields only, so the in-memory read models (mingo, scripts off, and its fast
 * closure) and MongoDB run the same query:
 *
 *   a EQ v → {a: v}        a NE v → {a: {$ne: v}}       a GT v → {a: {$gt: v}} (GE, LT, LE alike)
 *   a IN [..] → {a: {$in: [..]}}                         a EQ nil → {a: null} (null or absent)
 *   a CONTAINS 's' → {a: {$regex: <escaped s>}} on text; {a: v} (membership) on lists
 *   a CONTAINS {e} → {a: {$elemMatch: <e over the element's fields>}}
 *   SEARCH 's' → {$or: [{f: {$regex: <escaped s>, $options: 'i'}}, …]} over the searchable fields
 *   x AND y → {$and: [x, y]}   x OR y → {$or: [x, y]}   NOT x → {$nor: [x]}
 *
 * Date-times are stored as ISO 8601 strings in UTC with milliseconds, so a
 * date-time literal becomes one and compares as a string; a literal finer than
 * a millisecond is rounded so that the comparison stays exact.
 */

/** Matches no document (inside $elemMatch too). */
const NOTHING: Filter = { $nor: [{}] };

type Scalar = string | number | boolean | null;

const TYPE_NAMES: Readonly<Record<FieldType, string>> = {
  string: "a 'string'",
  number: 'a number',
  boolean: 'true or false',
  date: "an RFC 3339 date-time (e.g. 2018-04-27T18:39:26Z, also as a 'string')",
};

const literalDescription = (literal: Value): string => {
  switch (literal.kind) {
    case 'nil':
      return 'nil';
    case 'boolean':
      return String(literal.value);
    case 'number':
      return String(literal.value);
    case 'string':
      return describeFound(literal.value);
    case 'datetime':
      return literal.text;
    case 'list':
      return 'a list';
    case 'object':
      return 'an object {…}';
  }
};

/** A date-time value: its stored form (rounded down to the millisecond) and whether it was finer than that. */
interface Instant {
  readonly iso: string;
  readonly subMs: boolean;
}

function instantOf(literal: Literal): Instant | undefined {
  if (literal.kind === 'datetime') return { iso: new Date(literal.epochMs).toISOString(), subMs: literal.subMs };
  if (literal.kind === 'string') {
    const parsed = datetimeOf(literal.value);
    if (parsed) return { iso: new Date(parsed.epochMs).toISOString(), subMs: parsed.subMs };
  }
  return undefined;
}

/** The literal as a value of the field's type, or an error at the literal naming the type expected. */
function coerce(literal: Value, field: ScalarField, name: string): Scalar | Instant {
  if (literal.kind === 'nil') return null;
  const fail = (): never => {
    throw new FilterExpressionError(literal.offset, `${TYPE_NAMES[field.type]} (the type of ${describeFound(name)})`, literalDescription(literal));
  };
  switch (field.type) {
    case 'string':
      return literal.kind === 'string' ? literal.value : fail();
    case 'number':
      return literal.kind === 'number' ? literal.value : fail();
    case 'boolean':
      return literal.kind === 'boolean' ? literal.value : fail();
    case 'date':
      return (literal.kind === 'datetime' || literal.kind === 'string' ? instantOf(literal) : undefined) ?? fail();
  }
}

const isInstant = (value: Scalar | Instant): value is Instant => value !== null && typeof value === 'object';

const RANGE: Readonly<Record<'GT' | 'GE' | 'LT' | 'LE', string>> = { GT: '$gt', GE: '$gte', LT: '$lt', LE: '$lte' };

function compileScalar(field: ScalarField, name: string, operator: ComparisonOperator, value: Value): Filter {
  const path = field.path;
  if (value.kind === 'object') {
    throw new FilterExpressionError(value.offset, `a literal: ${describeFound(name)} is not a list of objects`, 'an object {…}');
  }
  if (operator === 'IN') {
    if (value.kind !== 'list') throw new FilterExpressionError(value.offset, 'a list ("[…]") after IN', literalDescription(value));
    const values: Scalar[] = [];
    for (const item of value.items) {
      const v = coerce(item, field, name);
      // A date-time finer than a millisecond equals no stored one.
      if (isInstant(v)) {
        if (!v.subMs) values.push(v.iso);
      } else values.push(v);
    }
    return { [path]: { $in: values } };
  }
  if (value.kind === 'list') {
    throw new FilterExpressionError(value.offset, `a literal after ${operator} (a list goes with IN)`, 'a list');
  }
  if (operator === 'CONTAINS') {
    if (field.list) {
      const v = coerce(value, field, name);
      if (isInstant(v)) return v.subMs ? NOTHING : { [path]: v.iso };
      return { [path]: v };
    }
    if (field.type !== 'string') {
      throw new FilterExpressionError(value.offset - 0, `CONTAINS on a text or list field (${describeFound(name)} is ${TYPE_NAMES[field.type]})`, literalDescription(value));
    }
    if (value.kind !== 'string') throw new FilterExpressionError(value.offset, `a 'string' after CONTAINS on ${describeFound(name)}`, literalDescription(value));
    return { [path]: { $regex: escapeRegex(value.value) } };
  }
  const v = coerce(value, field, name);
  if (operator === 'EQ' || operator === 'NE') {
    if (isInstant(v) && v.subMs) return operator === 'EQ' ? NOTHING : {};
    const target = isInstant(v) ? v.iso : v;
    return operator === 'EQ' ? { [path]: target } : { [path]: { $ne: target } };
  }
  // GT, GE, LT, LE: within one type; nil and booleans have no order.
  if (v === null || typeof v === 'boolean') {
    throw new FilterExpressionError(value.offset, `a number, a 'string' or a date-time after ${operator}`, literalDescription(value));
  }
  if (isInstant(v)) {
    // x finer than a millisecond, f = x rounded down: stored > x ⇔ stored > f; stored < x ⇔ stored ≤ f.
    if (v.subMs) return { [path]: operator === 'GT' || operator === 'GE' ? { $gt: v.iso } : { $lte: v.iso } };
    return { [path]: { [RANGE[operator as keyof typeof RANGE]]: v.iso } };
  }
  return { [path]: { [RANGE[operator as keyof typeof RANGE]]: v } };
}

function compileComparison(node: Extract<Expression, { kind: 'comparison' }>, fields: ListFields): Filter {
  const field = fieldNamed(fields, node.field);
  if (!field) {
    const names = Object.keys(fields);
    const shown = names.slice(0, 40).join(', ') + (names.length > 40 ? ', …' : '');
    throw new FilterExpressionError(node.offset, `a filterable field (${shown})`, describeFound(node.field));
  }
  if (field.type !== 'objects') return compileScalar(field, node.field, node.operator, node.value);
  const { value, operator } = node;
  if ((operator === 'EQ' || operator === 'NE') && value.kind === 'nil') {
    return operator === 'EQ' ? { [field.path]: null } : { [field.path]: { $ne: null } };
  }
  if (operator !== 'CONTAINS' || value.kind !== 'object') {
    throw new FilterExpressionError(
      operator === 'CONTAINS' ? value.offset : node.operatorOffset,
      `CONTAINS {…} on the list of objects ${describeFound(node.field)} (its fields: ${Object.keys(field.fields).join(', ')})`,
      operator === 'CONTAINS' ? literalDescription(value) : operator,
    );
  }
  return { [field.path]: { $elemMatch: compileNode(value.expression, field.fields) } };
}

/** The text SEARCH looks for: a string, or what another literal looks like written down. */
function searchText(literal: Literal): string {
  switch (literal.kind) {
    case 'string':
      return literal.value;
    case 'number':
      return String(literal.value);
    case 'boolean':
      return String(literal.value);
    case 'datetime':
      return literal.text;
    case 'nil':
      throw new FilterExpressionError(literal.offset, "a 'string' after SEARCH", 'nil');
  }
}

function searchClauses(fields: ListFields, needle: string, prefix: string): Filter[] {
  const lower = needle.toLowerCase();
  const pattern = { $regex: escapeRegex(needle), $options: 'i' };
  const clauses: Filter[] = [];
  for (const field of Object.values(fields) as ListField[]) {
    if (!isSearchable(field)) continue;
    const path = prefix + field.path;
    switch (field.type) {
      case 'string':
      case 'date':
        clauses.push({ [path]: pattern });
        break;
      case 'boolean':
        if ('true'.includes(lower)) clauses.push({ [path]: true });
        if ('false'.includes(lower)) clauses.push({ [path]: false });
        break;
      case 'objects':
        clauses.push(...searchClauses(field.fields, needle, `${path}.`));
        break;
      case 'number':
        // A substring of a number's digits is not a MongoDB query without scripts: numbers are left out.
        break;
    }
  }
  return clauses;
}

function compileNode(node: Expression, fields: ListFields): Filter {
  switch (node.kind) {
    case 'and':
    case 'or': {
      // A chain of one operator is one $and / $or (the operators are associative): no deep nesting.
      const operands: Expression[] = [];
      const pending: Expression[] = [node];
      while (pending.length > 0) {
        const next = pending.pop()!;
        if (next.kind === node.kind) pending.push(next.right, next.left);
        else operands.push(next);
      }
      return { [node.kind === 'and' ? '$and' : '$or']: operands.map((operand) => compileNode(operand, fields)) };
    }
    case 'not':
      return { $nor: [compileNode(node.operand, fields)] };
    case 'comparison':
      return compileComparison(node, fields);
    case 'search': {
      const clauses = searchClauses(fields, searchText(node.value), '');
      return clauses.length === 0 ? NOTHING : { $or: clauses };
    }
  }
}

/** The syntax tree as a MongoDB query document over the declared fields; unknown fields and mistyped values are errors with their offset. */
export const compileExpression = (expression: Expression, fields: ListFields): Filter => compileNode(expression, fields);

/** Parse and compile a filter expression. */
export const compileFilterExpression = (source: string, fields: ListFields): Filter => compileNode(parseFilterExpression(source), fields);
