import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePredicate, mingoPredicate } from '../../src/query/filter-predicate.js';
import type { ComparisonOperator, Expression, Literal, Value } from '../../src/query/filter-expression/ast.js';
import { compileExpression, compileFilterExpression, type ListFields, parseFilterExpression } from '../../src/query/index.js';
import { evaluate } from './support/evaluate.js';
import { random } from '../support/random.js';

/**
 * The property: for random expressions over a few random documents, the
 * compiled MongoDB query (through mingo, and through the in-memory fast
 * closure) matches exactly the documents the direct evaluator says. Each
 * expression is generated as a tree, written out as text with random keyword
 * case, quotes, spacing and parentheses only where precedence needs them (and
 * some where it does not), and parsed back: so the parser's precedence and
 * associativity are under test too, not only the compiler.
 */

const TAG_FIELDS: ListFields = {
  key: { path: 'key', type: 'string' },
  value: { path: 'value', type: 'string' },
  weight: { path: 'weight', type: 'number' },
};

const FIELDS: ListFields = {
  name: { path: 'name', type: 'string' },
  state: { path: 'spec.state', type: 'string', searchable: false },
  age: { path: 'age', type: 'number' },
  enabled: { path: 'enabled', type: 'boolean' },
  created: { path: 'meta.created', type: 'date' },
  groups: { path: 'groups', type: 'string', list: true },
  tags: { path: 'tags', type: 'objects', fields: TAG_FIELDS },
};

const NAMES = ['ada', 'Grace', "o'neil", 'say "hi"', 'back\\slash', 'ALAN', '', 'a.b*c'];
const STATES = ['active', 'pending', 'suspended'];
const GROUPS = ['g1', 'g2', 'g3'];
const KEYS = ['team', 'env', 'Team'];
const VALUES = ['x', 'prod', 'dev', 'X'];
const AGES = [0, 1, -1, 1.5, 12, 123, 1e3, 0.012];
/** Instants (ms) the documents and the literals share, so equality hits happen. */
const INSTANTS = [Date.UTC(2024, 0, 1), Date.UTC(2024, 5, 15, 12, 0, 0, 250), Date.UTC(2025, 1, 28, 23, 59, 59, 999), Date.UTC(1999, 11, 31, 23, 0, 0)];

type Next = () => number;
const pick = <T>(next: Next, list: readonly T[]): T => list[Math.floor(next() * list.length)]!;

function makeDoc(next: Next, i: number): Record<string, unknown> {
  const maybe = <T>(make: () => T): T | null | undefined => {
    const r = next();
    return r < 0.1 ? undefined : r < 0.17 ? null : make();
  };
  const doc: Record<string, unknown> = {
    _id: `d${i}`,
    name: maybe(() => pick(next, NAMES)),
    spec: { state: maybe(() => pick(next, STATES)) },
    age: maybe(() => pick(next, AGES)),
    enabled: maybe(() => next() < 0.5),
    meta: { created: maybe(() => new Date(pick(next, INSTANTS)).toISOString()) },
    groups: next() < 0.2 ? [] : Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(next, GROUPS)),
    tags:
      next() < 0.15
        ? undefined
        : Array.from({ length: Math.floor(next() * 4) }, () => ({
            key: pick(next, KEYS),
            value: pick(next, VALUES),
            ...(next() < 0.7 && { weight: pick(next, AGES) }),
          })),
  };
  for (const key of Object.keys(doc)) if (doc[key] === undefined) delete doc[key];
  return doc;
}

// --- literals, as trees and as text -------------------------------------------------

interface Written<T> {
  readonly node: T;
  readonly text: string;
}

const randomCase = (next: Next, word: string) => [...word].map((c) => (next() < 0.5 ? c.toLowerCase() : c.toUpperCase())).join('');

function stringLiteral(next: Next, value: string): Written<Literal> {
  const quote = next() < 0.5 ? "'" : '"';
  let body = '';
  for (const c of value) {
    if (c === '\\' || c === quote) body += `\\${c}`;
    else if (next() < 0.05) body += `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    else body += c;
  }
  return { node: { kind: 'string', value, offset: 0 }, text: `${quote}${body}${quote}` };
}

function numberLiteral(next: Next, value: number): Written<Literal> {
  let text = String(value);
  if (next() < 0.3 && value !== 0) {
    // The same number in scientific notation: mantissa e exponent.
    const exponent = Math.floor(next() * 5) - 2;
    const mantissa = value / 10 ** exponent;
    const candidate = `${mantissa}e${next() < 0.5 && exponent >= 0 ? '+' : ''}${exponent}`;
    text = /e.*e/i.test(candidate) ? text : candidate;
  }
  return { node: { kind: 'number', value: Number(text), offset: 0 }, text };
}

function datetimeLiteral(next: Next): Written<Literal> {
  const epochMs = pick(next, INSTANTS) + pick(next, [0, 0, 0, 1, -1]);
  const offsetMinutes = pick(next, [0, 0, 60, -300, 330]);
  const local = new Date(epochMs + offsetMinutes * 60_000).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  let fraction = local.slice(19, 23);
  const subMs = next() < 0.3;
  if (subMs) fraction += `${1 + Math.floor(next() * 9)}${Math.floor(next() * 10)}`;
  else if (fraction === '.000' && next() < 0.5) fraction = '';
  const zone =
    offsetMinutes === 0 && next() < 0.7
      ? pick(next, ['Z', 'z'])
      : `${offsetMinutes < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offsetMinutes) / 60)).padStart(2, '0')}:${String(Math.abs(offsetMinutes) % 60).padStart(2, '0')}`;
  const text = `${local.slice(0, 10)}${pick(next, ['T', 't'])}${local.slice(11, 19)}${fraction}${zone}`;
  return { node: { kind: 'datetime', text, epochMs, subMs, offset: 0 }, text };
}

const nil = (next: Next): Written<Literal> => ({ node: { kind: 'nil', offset: 0 }, text: randomCase(next, 'nil') });

function literalFor(next: Next, fields: ListFields, name: string, allowNil: boolean): Written<Literal> {
  if (allowNil && next() < 0.1) return nil(next);
  const field = fields[name]!;
  switch (field.type) {
    case 'string':
      return stringLiteral(next, pick(next, name === 'state' ? STATES : name === 'groups' ? GROUPS : name === 'key' ? KEYS : name === 'value' ? VALUES : NAMES));
    case 'number':
      return numberLiteral(next, pick(next, AGES));
    case 'boolean': {
      const value = next() < 0.5;
      return { node: { kind: 'boolean', value, offset: 0 }, text: randomCase(next, String(value)) };
    }
    case 'date':
      return next() < 0.15 ? stringLiteral(next, new Date(pick(next, INSTANTS)).toISOString()) : datetimeLiteral(next);
    case 'objects':
      throw new Error('no literal for objects');
  }
}

// --- expressions --------------------------------------------------------------------

const LEVEL = { or: 0, and: 1, not: 2, comparison: 3, search: 3 } as const;

function comparison(next: Next, fields: ListFields, depth: number): Written<Expression> {
  const names = Object.keys(fields);
  const name = pick(next, names);
  const field = fields[name]!;
  let operator: ComparisonOperator;
  let value: Written<Value>;
  if (field.type === 'objects') {
    if (next() < 0.15) {
      operator = pick(next, ['EQ', 'NE'] as const);
      value = nil(next);
    } else {
      operator = 'CONTAINS';
      const inner = expression(next, field.fields, depth + 1);
      value = { node: { kind: 'object', expression: inner.node, offset: 0 }, text: `{${inner.text}}` };
    }
  } else {
    const ops: ComparisonOperator[] = ['EQ', 'NE', 'IN'];
    if (field.type !== 'boolean') ops.push('GT', 'GE', 'LT', 'LE');
    if (field.type === 'string' || field.list) ops.push('CONTAINS', 'CONTAINS');
    operator = pick(next, ops);
    if (operator === 'IN') {
      const items = Array.from({ length: Math.floor(next() * 4) }, () => literalFor(next, fields, name, true));
      value = { node: { kind: 'list', items: items.map((i) => i.node), offset: 0 }, text: `[${items.map((i) => i.text).join(pick(next, [',', ', ', ' , ']))}]` };
    } else if (operator === 'CONTAINS' && !field.list) {
      value = stringLiteral(next, pick(next, ['a', 'A', "'", '"', '\\', '.', '*', 'ad', '']));
    } else {
      value = literalFor(next, fields, name, operator === 'EQ' || operator === 'NE' || (operator === 'CONTAINS' && field.list === true && next() < 0.05));
      if (value.node.kind === 'nil' && operator === 'CONTAINS') value = literalFor(next, fields, name, false);
    }
  }
  const space = () => pick(next, [' ', ' ', '  ', '\t', '\n']);
  return {
    node: { kind: 'comparison', field: name, operator, value: value.node, offset: 0, operatorOffset: 0 },
    text: `${name}${space()}${randomCase(next, operator)}${space()}${value.text}`,
  };
}

function search(next: Next): Written<Expression> {
  const literal = next() < 0.8 ? stringLiteral(next, pick(next, ['a', 'GRA', 'x', 'team', '2024', 'tru', 'e', '12', ''])) : numberLiteral(next, pick(next, [12, 1]));
  return { node: { kind: 'search', value: literal.node as Literal, offset: 0 }, text: `${randomCase(next, 'search')} ${literal.text}` };
}

/** Parenthesize when precedence or associativity needs it, and sometimes when it does not. */
const wrap = (next: Next, child: Written<Expression>, needed: boolean): string => (needed || next() < 0.1 ? `(${child.text})` : child.text);

function expression(next: Next, fields: ListFields, depth = 0): Written<Expression> {
  const r = next();
  if (depth >= 4 || r < 0.35) return next() < 0.1 ? search(next) : comparison(next, fields, depth);
  if (r < 0.5) {
    const operand = expression(next, fields, depth + 1);
    return { node: { kind: 'not', operand: operand.node, offset: 0 }, text: `${randomCase(next, 'not')} ${wrap(next, operand, LEVEL[operand.node.kind] < LEVEL.not)}` };
  }
  const kind = r < 0.75 ? 'and' : 'or';
  const left = expression(next, fields, depth + 1);
  const right = expression(next, fields, depth + 1);
  // Left-associative: a left operand of the same level needs no parentheses, a right one does.
  const leftText = wrap(next, left, LEVEL[left.node.kind] < LEVEL[kind]);
  const rightText = wrap(next, right, LEVEL[right.node.kind] <= LEVEL[kind]);
  return { node: { kind, left: left.node, right: right.node, offset: 0 }, text: `${leftText} ${randomCase(next, kind)} ${rightText}` };
}

test('compiled filter expressions match exactly what the direct evaluator says (random expressions, random documents)', () => {
  const seed = Number(process.env.PROPERTY_SEED ?? 20261207);
  const next = random(seed);
  let checked = 0;
  let matched = 0;
  for (let round = 0; round < 3000; round++) {
    const docs = Array.from({ length: 12 }, (_, i) => makeDoc(next, i));
    const { node, text } = expression(next, FIELDS);
    const context = () => `seed ${seed}, round ${round}: ${text}`;
    let filter;
    try {
      filter = compileFilterExpression(text, FIELDS);
    } catch (error) {
      assert.fail(`${context()}: ${(error as Error).message}`);
    }
    // Compiling the generated tree gives the same query as compiling the parsed text (precedence, associativity).
    assert.deepEqual(filter, compileExpression(node, FIELDS), `${context()}: parsed differently than generated`);
    const viaMingo = mingoPredicate(filter);
    const viaClosure = compilePredicate(filter);
    for (const doc of docs) {
      const expected = evaluate(node, doc, FIELDS);
      assert.equal(viaMingo(doc), expected, `${context()}\ndoc ${JSON.stringify(doc)}\nquery ${JSON.stringify(filter)}`);
      assert.equal(viaClosure(doc), expected, `${context()} (fast closure)\ndoc ${JSON.stringify(doc)}`);
      checked++;
      if (expected) matched++;
    }
  }
  // Not a vacuous run: a fair share of both answers.
  assert.ok(matched > checked * 0.15 && matched < checked * 0.85, `${matched} of ${checked} matched`);
  assert.ok(parseFilterExpression('a eq 1'));
});
