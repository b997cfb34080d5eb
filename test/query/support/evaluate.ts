import type { Expression, Literal, Value } from '../../../src/query/filter-expression/ast.js';
import type { ListField, ListFields, ScalarField } from '../../../src/query/fields.js';

/**
 * A direct evaluator of filter-expression syntax trees: the language's
 * meaning written out plainly, without MongoDB, for the property test to hold
 * the compiled queries against. It follows MongoDB's rules where the language
 * leaves them visible: nil equals null or absent, a list field equals a value
 * when one element does, comparisons hold only between values of one type, and
 * NOT is the complement.
 */

const get = (doc: unknown, path: string): unknown => {
  let value = doc;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
};

/** An exact instant in ms; a literal finer than a millisecond sits between two whole ms. */
const instant = (literal: Literal): number | undefined => {
  if (literal.kind === 'datetime') return literal.epochMs + (literal.subMs ? 0.5 : 0);
  // The generator writes date strings with whole milliseconds only.
  if (literal.kind === 'string') return Date.parse(literal.value);
  return undefined;
};

const scalarOf = (literal: Literal): unknown => (literal.kind === 'nil' ? null : 'value' in literal ? literal.value : undefined);

function equals(value: unknown, literal: Literal, field: ScalarField): boolean {
  if (literal.kind === 'nil') return value === null || value === undefined || (Array.isArray(value) && value.includes(null));
  if (field.type === 'date') {
    const at = instant(literal);
    const one = (v: unknown) => typeof v === 'string' && Date.parse(v) === at;
    return Array.isArray(value) ? value.some(one) : one(value);
  }
  const target = scalarOf(literal);
  return Array.isArray(value) ? value.some((v) => v === target) : value === target;
}

function compare(value: unknown, literal: Literal, field: ScalarField, operator: 'GT' | 'GE' | 'LT' | 'LE'): boolean {
  const test = (v: unknown): boolean => {
    let a: number | string;
    let b: number | string;
    if (field.type === 'date') {
      if (typeof v !== 'string') return false;
      a = Date.parse(v);
      b = instant(literal)!;
    } else {
      b = scalarOf(literal) as number | string;
      if (typeof v !== typeof b) return false;
      a = v as number | string;
    }
    switch (operator) {
      case 'GT':
        return a > b;
      case 'GE':
        return a >= b;
      case 'LT':
        return a < b;
      case 'LE':
        return a <= b;
    }
  };
  return Array.isArray(value) ? value.some(test) : test(value);
}

function searchField(value: unknown, field: ListField, needle: string): boolean {
  if (field.searchable === false) return false;
  const values = Array.isArray(value) ? value : [value];
  switch (field.type) {
    case 'string':
    case 'date':
      return values.some((v) => typeof v === 'string' && v.toLowerCase().includes(needle));
    case 'boolean':
      return values.some((v) => typeof v === 'boolean' && String(v).includes(needle));
    case 'number':
      return false;
    case 'objects':
      return values.some(
        (element) =>
          element !== null &&
          typeof element === 'object' &&
          Object.values(field.fields).some((inner) => searchField(get(element, inner.path), inner, needle)),
      );
  }
}

function contains(value: unknown, operand: Value, field: ListField): boolean {
  if (field.type === 'objects') {
    if (operand.kind !== 'object') throw new Error('CONTAINS on objects takes {…}');
    return Array.isArray(value) && value.some((el) => el !== null && typeof el === 'object' && !Array.isArray(el) && evaluate(operand.expression, el, field.fields));
  }
  if (operand.kind === 'object' || operand.kind === 'list') throw new Error('CONTAINS takes a literal');
  if (field.list) return equals(value, operand, field);
  const needle = (operand as { value: string }).value;
  const one = (v: unknown) => typeof v === 'string' && v.includes(needle);
  return Array.isArray(value) ? value.some(one) : one(value);
}

export function evaluate(expression: Expression, doc: unknown, fields: ListFields): boolean {
  switch (expression.kind) {
    case 'or':
      return evaluate(expression.left, doc, fields) || evaluate(expression.right, doc, fields);
    case 'and':
      return evaluate(expression.left, doc, fields) && evaluate(expression.right, doc, fields);
    case 'not':
      return !evaluate(expression.operand, doc, fields);
    case 'search': {
      const literal = expression.value;
      const text = literal.kind === 'datetime' ? literal.text : String((literal as { value: unknown }).value);
      const needle = text.toLowerCase();
      return Object.values(fields).some((field) => searchField(get(doc, field.path), field, needle));
    }
    case 'comparison': {
      const field = fields[expression.field]!;
      const value = get(doc, field.path);
      const operand = expression.value;
      switch (expression.operator) {
        case 'CONTAINS':
          return contains(value, operand, field);
        case 'IN':
          if (operand.kind !== 'list' || field.type === 'objects') throw new Error('IN takes a list');
          return operand.items.some((item) => equals(value, item, field));
        case 'EQ':
        case 'NE': {
          if (operand.kind === 'list' || operand.kind === 'object') throw new Error('EQ takes a literal');
          const equal = field.type === 'objects' ? equals(value, operand, { path: field.path, type: 'string' }) : equals(value, operand, field);
          return expression.operator === 'EQ' ? equal : !equal;
        }
        default:
          if (operand.kind === 'list' || operand.kind === 'object' || field.type === 'objects') throw new Error('a range takes a literal');
          return compare(value, operand, field, expression.operator);
      }
    }
  }
}
