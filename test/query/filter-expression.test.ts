import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compilePredicate, mingoPredicate } from '../../src/query/filter-predicate.js';
import {
  compileFilterExpression,
  FilterExpressionError,
  FilterExpressionLimitError,
  type ListFields,
  MAX_EXPRESSION_LENGTH,
  MAX_IN_VALUES,
  MAX_NESTING_DEPTH,
  parseFilterExpression,
} from '../../src/query/index.js';

/** The seed's example fields: field1 a number, field2 and field3 text, field4 a list of booleans; repositories a list of objects. */
const FIELDS: ListFields = {
  field1: { path: 'f1', type: 'number' },
  field2: { path: 'f2', type: 'string' },
  field3: { path: 'nested.f3', type: 'string' },
  field4: { path: 'f4', type: 'boolean', list: true },
  enabled: { path: 'enabled', type: 'boolean' },
  created: { path: 'created', type: 'date' },
  hidden: { path: 'hidden', type: 'string', searchable: false },
  repositories: { path: 'repos', type: 'objects', fields: { name: { path: 'name', type: 'string' }, version: { path: 'version', type: 'string' } } },
};

const DOCS = [
  { _id: 'goku', f1: 9001, f2: 'Goku', nested: { f3: 'a foobar b' }, f4: [true], enabled: true, created: '2018-04-27T18:39:26.397Z', hidden: 'zzz', repos: [{ name: 'web', version: '19.0.0' }] },
  { _id: 'vegeta', f1: 42, f2: 'Vegeta', nested: { f3: 'FOOBAR' }, f4: [false], enabled: false, created: '2020-01-01T00:00:00.000Z', repos: [{ name: 'api', version: '18.2.0' }, { name: 'web', version: '20.1.0' }] },
  { _id: 'gohan', f1: 0.012, f2: 'Gohan', nested: { f3: 'foo' }, f4: [], enabled: true, created: '2015-06-01T12:00:00.000Z', repos: [] },
  { _id: 'piccolo', f2: null, nested: {}, enabled: false },
];

/** The ids the expression selects, through mingo and through the fast closure (they must agree). */
function ids(expression: string): string[] {
  const filter = compileFilterExpression(expression, FIELDS);
  const viaMingo = DOCS.filter((d) => mingoPredicate(filter)(d)).map((d) => d._id);
  const viaClosure = DOCS.filter((d) => compilePredicate(filter)(d)).map((d) => d._id);
  assert.deepEqual(viaClosure, viaMingo, `${expression}: the engines disagree`);
  return viaMingo;
}

function rejects(expression: string, offset: number, expected: RegExp): void {
  assert.throws(
    () => compileFilterExpression(expression, FIELDS),
    (error: unknown) => {
      assert.ok(error instanceof FilterExpressionError, `${expression}: ${String(error)}`);
      assert.equal(error.offset, offset, `${expression}: ${error.message}`);
      assert.match(error.message, expected);
      assert.match(error.message, new RegExp(`at offset ${offset}: expected`));
      return true;
    },
  );
}

describe('filter expressions: operators (the seed\'s table)', () => {
  test('CONTAINS: substring on text (case-sensitive), membership on lists', () => {
    assert.deepEqual(ids("field3 CONTAINS 'foobar'"), ['goku']);
    assert.deepEqual(ids('field4 CONTAINS TRUE'), ['goku']);
    assert.deepEqual(ids('field4 CONTAINS false'), ['vegeta']);
  });
  test('CONTAINS escapes regular-expression characters', () => {
    assert.deepEqual(ids("field3 CONTAINS '.*'"), []);
    assert.deepEqual(ids("field3 CONTAINS 'o+'"), []);
  });
  test('IN: membership in a list literal, at most 100 values', () => {
    assert.deepEqual(ids("field2 IN ['Goku', 'Vegeta']"), ['goku', 'vegeta']);
    assert.deepEqual(ids('field2 IN []'), []);
    assert.deepEqual(ids('field2 IN [nil]'), ['piccolo']);
    const hundred = `[${Array.from({ length: MAX_IN_VALUES }, (_, i) => `'v${i}'`).join(',')}]`;
    assert.deepEqual(ids(`field2 IN ${hundred}`), []);
    const tooMany = `[${Array.from({ length: MAX_IN_VALUES + 1 }, (_, i) => `'v${i}'`).join(',')}]`;
    assert.throws(() => compileFilterExpression(`field2 IN ${tooMany}`, FIELDS), (e: unknown) => e instanceof FilterExpressionLimitError && /at most 100 values/.test(e.message));
  });
  test('GE, GT, LE, LT', () => {
    assert.deepEqual(ids('field1 GE 1.2e-2'), ['goku', 'vegeta', 'gohan']);
    assert.deepEqual(ids('field1 GT 1.2e-2'), ['goku', 'vegeta']);
    assert.deepEqual(ids('field1 LE 9000'), ['vegeta', 'gohan']);
    assert.deepEqual(ids('field1 LT 9.02'), ['gohan']);
  });
  test('NE and EQ', () => {
    assert.deepEqual(ids('field1 NE 42'), ['goku', 'gohan', 'piccolo']);
    assert.deepEqual(ids('field1 EQ 42'), ['vegeta']);
    assert.deepEqual(ids("field2 EQ 'goku'"), [], 'EQ is exact');
  });
  test('SEARCH: any searchable field, case-insensitive substring, not only text', () => {
    assert.deepEqual(ids("SEARCH 'FOOBAR'"), ['goku', 'vegeta']);
    assert.deepEqual(ids("search 'go'"), ['goku', 'gohan']);
    assert.deepEqual(ids("SEARCH '2018-04'"), ['goku'], 'dates are searched as written');
    assert.deepEqual(ids("SEARCH '19.0'"), ['goku'], 'the fields of lists of objects too');
    assert.deepEqual(ids("SEARCH 'zzz'"), [], 'not the fields declared unsearchable');
    assert.deepEqual(ids("SEARCH 'ALS'"), ['vegeta', 'piccolo'], 'booleans as true/false');
    assert.deepEqual(ids("SEARCH '.*'"), [], 'escaped');
  });
  test('nested object comparison over a list of objects', () => {
    assert.deepEqual(ids("repositories CONTAINS {version eq '19.0.0'}"), ['goku']);
    // Both conditions on one element: vegeta has name web and version 18.2.0 on different elements.
    assert.deepEqual(ids("repositories CONTAINS {name EQ 'web' AND version EQ '20.1.0'}"), ['vegeta']);
    assert.deepEqual(ids("repositories CONTAINS {name EQ 'api' AND version EQ '20.1.0'}"), []);
    assert.deepEqual(ids("repositories CONTAINS {NOT name EQ 'web'}"), ['vegeta']);
    assert.deepEqual(ids('repositories EQ nil'), ['piccolo']);
    rejects("repositories CONTAINS {field1 EQ 1}", 23, /a filterable field \(name, version\)/);
    rejects("repositories EQ 'web'", 13, /CONTAINS \{…\} on the list of objects/);
  });
});

describe('filter expressions: logical operators and precedence (the seed\'s table)', () => {
  test('NOT, right-associative', () => {
    assert.deepEqual(ids('NOT field1 LE 9000'), ['goku', 'piccolo']);
    assert.deepEqual(ids('NOT NOT field1 LE 9000'), ['vegeta', 'gohan']);
    assert.deepEqual(parseFilterExpression('NOT NOT a EQ 1'), {
      kind: 'not', offset: 0, operand: { kind: 'not', offset: 4, operand: { kind: 'comparison', field: 'a', operator: 'EQ', value: { kind: 'number', value: 1, offset: 13 }, offset: 8, operatorOffset: 10 } },
    });
  });
  test('AND and OR, left-associative', () => {
    assert.deepEqual(ids("field1 GT 9000 AND field2 EQ 'Goku'"), ['goku']);
    assert.deepEqual(ids("field1 GT 9000 OR field2 EQ 'Gohan'"), ['goku', 'gohan']);
    const tree = parseFilterExpression('a EQ 1 AND b EQ 2 AND c EQ 3');
    assert.equal(tree.kind, 'and');
    assert.equal(tree.kind === 'and' && tree.left.kind, 'and', 'the left operand holds the first two');
    const orTree = parseFilterExpression('a EQ 1 OR b EQ 2 OR c EQ 3');
    assert.equal(orTree.kind === 'or' && orTree.left.kind, 'or');
  });
  test('NOT binds tighter than AND, AND tighter than OR', () => {
    // NOT a AND b = (NOT a) AND b
    assert.deepEqual(ids("NOT field1 EQ 42 AND enabled EQ false"), ['piccolo']);
    // a OR b AND c = a OR (b AND c)
    assert.deepEqual(ids("field2 EQ 'Goku' OR field2 EQ 'Vegeta' AND enabled EQ true"), ['goku']);
    assert.deepEqual(ids("(field2 EQ 'Goku' OR field2 EQ 'Vegeta') AND enabled EQ false"), ['vegeta']);
  });
  test('parentheses override precedence (the seed\'s example)', () => {
    assert.deepEqual(ids("NOT (field1 LT 1234 AND field3 CONTAINS 'foo')"), ['goku', 'vegeta', 'piccolo']);
    assert.deepEqual(ids("NOT field1 LT 1234 AND field3 CONTAINS 'foo'"), ['goku']);
  });
  test('keywords are case-insensitive', () => {
    assert.deepEqual(ids("field1 gt 9000 oR field2 Eq 'Gohan' AnD NoT enabled eQ FaLsE"), ['goku', 'gohan']);
    assert.deepEqual(ids("field3 contains 'foo' and field2 in ['Gohan']"), ['gohan']);
  });
});

describe('filter expressions: literals (the seed\'s table)', () => {
  test('nil in any case', () => {
    for (const nil of ['nil', 'Nil', 'nIl', 'NIL']) assert.deepEqual(ids(`field1 EQ ${nil}`), ['piccolo'], nil);
    assert.deepEqual(ids('field1 NE nil'), ['goku', 'vegeta', 'gohan']);
  });
  test('booleans in any case', () => {
    for (const t of ['true', 'True', 'TRUE']) assert.deepEqual(ids(`enabled EQ ${t}`), ['goku', 'gohan']);
    for (const f of ['false', 'False', 'FALSE']) assert.deepEqual(ids(`enabled EQ ${f}`), ['vegeta', 'piccolo']);
  });
  test('numbers: signed, decimal, scientific', () => {
    const value = (text: string) => {
      const tree = parseFilterExpression(`x EQ ${text}`);
      return tree.kind === 'comparison' && tree.value.kind === 'number' ? tree.value.value : undefined;
    };
    assert.deepEqual(['0', '1', '-1', '1.2', '0.35', '1.2e-2', '-1.2e+2', '+3', '1E3'].map(value), [0, 1, -1, 1.2, 0.35, 0.012, -120, 3, 1000]);
    assert.deepEqual(ids('field1 EQ 9.001e3'), ['goku']);
    rejects('field1 EQ 1e999', 10, /a finite number/);
    rejects('field1 EQ 12abc', 10, /a number/);
  });
  test('strings: single or double quoted, with escapes', () => {
    const value = (text: string) => {
      const tree = parseFilterExpression(`x EQ ${text}`);
      return tree.kind === 'comparison' && tree.value.kind === 'string' ? tree.value.value : undefined;
    };
    assert.deepEqual(['"foo"', '"foo bar"', "'foo'", "'foo bar'", `'it\\'s'`, `"say \\"hi\\""`, `'a\\\\b'`, `'\\u0041\\n'`, `"it's"`].map(value), [
      'foo', 'foo bar', 'foo', 'foo bar', "it's", 'say "hi"', 'a\\b', 'A\n', "it's",
    ]);
    assert.deepEqual(ids('field2 EQ "Goku"'), ['goku']);
    rejects("field2 EQ 'open", 15, /the closing ' of the string that starts at offset 10/);
    rejects("field2 EQ 'a\\qb'", 12, /an escape/);
  });
  test('RFC 3339 date-times, offsets applied, finer than a millisecond compared exactly', () => {
    assert.deepEqual(ids('created EQ 2018-04-27T18:39:26.397+00:00'), ['goku']);
    assert.deepEqual(ids('created EQ 2018-04-27T20:39:26.397+02:00'), ['goku'], 'the same instant elsewhere');
    assert.deepEqual(ids("created EQ '2018-04-27T18:39:26.397Z'"), ['goku'], 'also as a string');
    // The seed's example, with microseconds: just after goku's creation.
    assert.deepEqual(ids('created EQ 2018-04-27T18:39:26.397237+00:00'), []);
    assert.deepEqual(ids('created GT 2018-04-27T18:39:26.397237+00:00'), ['vegeta']);
    assert.deepEqual(ids('created GE 2018-04-27T18:39:26.397237+00:00'), ['vegeta']);
    assert.deepEqual(ids('created LT 2018-04-27T18:39:26.397237+00:00'), ['goku', 'gohan']);
    assert.deepEqual(ids('created LE 2018-04-27T18:39:26.397237+00:00'), ['goku', 'gohan']);
    assert.deepEqual(ids('created LT 2016-01-01t00:00:00z'), ['gohan']);
    rejects('created GT 2018-02-30T00:00:00Z', 11, /a valid RFC 3339 date-time/);
    rejects('created GT 2018-13-01T00:00:00Z', 11, /a valid RFC 3339 date-time/);
    rejects('created GT 42', 11, /an RFC 3339 date-time/);
  });
  test('lists: comma-separated literals in brackets', () => {
    assert.deepEqual(ids('field1 IN [0]'), []);
    assert.deepEqual(ids('field1 IN [42, 9001]'), ['goku', 'vegeta']);
    assert.deepEqual(ids("field2 IN ['Goku', \"Gohan\"]"), ['goku', 'gohan']);
    rejects('field1 IN [1, 2', 15, /"," or "]"/);
    rejects('field1 EQ [1]', 10, /a list goes with IN/);
  });
});

describe('filter expressions: errors name the offset and what was expected', () => {
  test('syntax errors', () => {
    rejects('', 0, /a condition/);
    rejects('field1', 6, /an operator \(EQ, NE, GT, GE, LT, LE, CONTAINS, IN\)/);
    rejects('field1 EQ', 9, /a literal/);
    rejects('field1 EQ 1 field2', 12, /AND, OR or the end of the expression/);
    rejects('(field1 EQ 1', 12, /AND, OR or "\)"/);
    rejects('field1 EQ 1)', 11, /closes nothing/);
    rejects('field1 EQ 1 AND', 15, /a condition/);
    rejects('EQ 1', 0, /a field before EQ/);
    rejects('field1 EQ 1 # x', 12, /a field, a value/);
    rejects('field1 IN 1', 10, /a list/);
  });
  test('unknown fields and mistyped values', () => {
    rejects("nope EQ 'x'", 0, /a filterable field \(field1, field2/);
    rejects("toString EQ 'x'", 0, /a filterable field/);
    rejects("field1 EQ 'x'", 10, /a number \(the type of "field1"\)/);
    rejects('field2 GT true', 10, /a 'string'/);
    rejects('enabled GT true', 11, /a number, a 'string' or a date-time after GT/);
    rejects('field1 CONTAINS 1', 16, /CONTAINS on a text or list field/);
    rejects('SEARCH nil', 7, /a 'string' after SEARCH/);
  });
  test('the length and the nesting depth are limited', () => {
    const long = `field2 EQ '${'x'.repeat(MAX_EXPRESSION_LENGTH)}'`;
    assert.throws(() => compileFilterExpression(long, FIELDS), (e: unknown) => e instanceof FilterExpressionLimitError && /longer than 4096/.test(e.message));
    const deepest = `${'('.repeat(MAX_NESTING_DEPTH)}field1 EQ 1${')'.repeat(MAX_NESTING_DEPTH)}`;
    assert.deepEqual(ids(deepest), []);
    const tooDeep = `${'('.repeat(MAX_NESTING_DEPTH + 1)}field1 EQ 1${')'.repeat(MAX_NESTING_DEPTH + 1)}`;
    assert.throws(() => compileFilterExpression(tooDeep, FIELDS), (e: unknown) => e instanceof FilterExpressionLimitError && /nested more than 32 deep/.test(e.message));
    assert.throws(() => compileFilterExpression(`${'NOT '.repeat(MAX_NESTING_DEPTH + 1)}field1 EQ 1`, FIELDS), FilterExpressionLimitError);
    // A long flat chain is not deep: it compiles to one $or.
    const chain = Array.from({ length: 200 }, (_, i) => `field1 EQ ${i}`).join(' OR ');
    assert.equal((compileFilterExpression(chain, FIELDS).$or as unknown[]).length, 200);
  });
});
