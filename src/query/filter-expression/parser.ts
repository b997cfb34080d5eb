import { FilterExpressionError, FilterExpressionLimitError } from '../errors.js';
import type { ComparisonOperator, Expression, ListLiteral, Literal, ObjectLiteral, Value } from './ast.js';
import { describeFound, type Token, tokenize } from './tokenizer.js';

/**
 * A recursive-descent parser for the filter-expression language, one function per rule:
 *
 *   expression = or ;
 *   or         = and , { "OR" , and } ;                      (left-associative)
 *   and        = not , { "AND" , not } ;                     (left-associative)
 *   not        = "NOT" , not | primary ;                     (right-associative)
 *   primary    = "(" , expression , ")" | "SEARCH" , literal | field , operator , value ;
 *   operator   = "EQ" | "NE" | "GT" | "GE" | "LT" | "LE" | "CONTAINS" | "IN" ;
 *   value      = literal | list | "{" , expression , "}" ;
 *   list       = "[" , [ literal , { "," , literal } ] , "]" ;
 *   literal    = "nil" | "true" | "false" | number | string | datetime ;
 *
 * Errors name the offset and what was expected there.
 */

/** Longest expression accepted, in characters. */
export const MAX_EXPRESSION_LENGTH = 4096;
/** Deepest nesting accepted: parentheses, NOTs and `{…}` objects, counted together. */
export const MAX_NESTING_DEPTH = 32;
/** Most values in one IN list. */
export const MAX_IN_VALUES = 100;

const OPERATORS: ReadonlySet<string> = new Set<ComparisonOperator>(['EQ', 'NE', 'GT', 'GE', 'LT', 'LE', 'CONTAINS', 'IN']);
const OPERATOR_NAMES = 'an operator (EQ, NE, GT, GE, LT, LE, CONTAINS, IN)';
const CONDITION = 'a condition (a field, NOT, SEARCH or "(")';
const LITERAL = "a literal (nil, true, false, a number, a 'string' or an RFC 3339 date-time)";

const describe = (token: Token): string => {
  switch (token.type) {
    case 'end':
      return 'the end of the expression';
    case 'keyword':
      return describeFound(token.text);
    case 'identifier':
      return describeFound(token.name);
    case 'punctuation':
    case 'string':
    case 'number':
    case 'datetime':
      return describeFound(token.text);
  }
};

const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The instant of an RFC 3339 date-time, or undefined when a part is out of range (month 13, February 30). */
function parseDatetime(text: string): { epochMs: number; subMs: boolean } | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = m[7] ?? '';
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
  if (day < 1 || day > daysInMonth) return undefined;
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = (fraction + '000').slice(0, 3);
  const subMs = /[1-9]/.test(fraction.slice(3));
  // Date.parse of the UTC form reads years 0000-0099 as they are (Date.UTC would add 1900).
  const local = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${ms}Z`);
  return { epochMs: local - offsetMinutes * 60_000, subMs };
}

/** A date-time as the read models store them: ISO 8601 in UTC with milliseconds. */
export const datetimeOf = parseDatetime;

class Parser {
  private position = 0;
  private depth = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  private get current(): Token {
    return this.tokens[this.position]!;
  }

  private fail(expected: string, token: Token = this.current): never {
    throw new FilterExpressionError(token.offset, expected, describe(token));
  }

  private isKeyword(keyword: string): boolean {
    const token = this.current;
    return token.type === 'keyword' && token.keyword === keyword;
  }

  private isPunctuation(text: string): boolean {
    const token = this.current;
    return token.type === 'punctuation' && token.text === text;
  }

  private expectPunctuation(text: string, expected: string): void {
    if (!this.isPunctuation(text)) this.fail(expected);
    this.position++;
  }

  private enter(offset: number): void {
    if (++this.depth > MAX_NESTING_DEPTH) {
      throw new FilterExpressionLimitError(`filter_expression: at offset ${offset}: nested more than ${MAX_NESTING_DEPTH} deep (parentheses, NOT and {…} count)`);
    }
  }

  parse(): Expression {
    const expression = this.or();
    if (this.current.type !== 'end') this.fail(this.current.type === 'punctuation' && this.current.text === ')' ? 'AND, OR or the end of the expression (this ")" closes nothing)' : 'AND, OR or the end of the expression');
    return expression;
  }

  private or(): Expression {
    let left = this.and();
    while (this.isKeyword('OR')) {
      this.position++;
      left = { kind: 'or', left, right: this.and(), offset: left.offset };
    }
    return left;
  }

  private and(): Expression {
    let left = this.not();
    while (this.isKeyword('AND')) {
      this.position++;
      left = { kind: 'and', left, right: this.not(), offset: left.offset };
    }
    return left;
  }

  private not(): Expression {
    if (!this.isKeyword('NOT')) return this.primary();
    const offset = this.current.offset;
    this.enter(offset);
    this.position++;
    const operand = this.not();
    this.depth--;
    return { kind: 'not', operand, offset };
  }

  private primary(): Expression {
    const token = this.current;
    if (this.isPunctuation('(')) {
      this.enter(token.offset);
      this.position++;
      const inner = this.or();
      this.expectPunctuation(')', 'AND, OR or ")"');
      this.depth--;
      return inner;
    }
    if (this.isKeyword('SEARCH')) {
      this.position++;
      const value = this.literal();
      return { kind: 'search', value, offset: token.offset };
    }
    if (token.type !== 'identifier') {
      if (token.type === 'keyword' && OPERATORS.has(token.keyword)) this.fail(`a field before ${token.keyword}`);
      this.fail(CONDITION);
    }
    this.position++;
    const operatorToken = this.current;
    if (operatorToken.type !== 'keyword' || !OPERATORS.has(operatorToken.keyword)) this.fail(`${OPERATOR_NAMES} after the field ${describeFound(token.name)}`);
    const operator = operatorToken.keyword as ComparisonOperator;
    this.position++;
    const value = this.value(operator);
    return { kind: 'comparison', field: token.name, operator, value, offset: token.offset, operatorOffset: operatorToken.offset };
  }

  private value(operator: ComparisonOperator): Value {
    if (this.isPunctuation('[')) return this.list();
    if (this.isPunctuation('{')) return this.object();
    if (operator === 'IN') this.fail('a list ("[…]") after IN');
    return this.literal();
  }

  private list(): ListLiteral {
    const offset = this.current.offset;
    this.position++;
    const items: Literal[] = [];
    if (!this.isPunctuation(']')) {
      while (true) {
        if (items.length === MAX_IN_VALUES) {
          throw new FilterExpressionLimitError(`filter_expression: at offset ${this.current.offset}: a list holds at most ${MAX_IN_VALUES} values`);
        }
        items.push(this.literal());
        if (this.isPunctuation(']')) break;
        this.expectPunctuation(',', '"," or "]"');
      }
    }
    this.position++;
    return { kind: 'list', items, offset };
  }

  private object(): ObjectLiteral {
    const offset = this.current.offset;
    this.enter(offset);
    this.position++;
    const expression = this.or();
    this.expectPunctuation('}', 'AND, OR or "}"');
    this.depth--;
    return { kind: 'object', expression, offset };
  }

  private literal(): Literal {
    const token = this.current;
    switch (token.type) {
      case 'string':
        this.position++;
        return { kind: 'string', value: token.value, offset: token.offset };
      case 'number':
        if (!Number.isFinite(token.value)) this.fail('a finite number');
        this.position++;
        return { kind: 'number', value: token.value, offset: token.offset };
      case 'datetime': {
        const instant = parseDatetime(token.text);
        if (!instant) this.fail('a valid RFC 3339 date-time (month 01-12, a day of that month, hours 00-23)');
        this.position++;
        return { kind: 'datetime', text: token.text, ...instant, offset: token.offset };
      }
      case 'keyword':
        if (token.keyword === 'NIL') {
          this.position++;
          return { kind: 'nil', offset: token.offset };
        }
        if (token.keyword === 'TRUE' || token.keyword === 'FALSE') {
          this.position++;
          return { kind: 'boolean', value: token.keyword === 'TRUE', offset: token.offset };
        }
        return this.fail(LITERAL);
      default:
        return this.fail(LITERAL);
    }
  }
}

/** Parse a filter expression into its syntax tree; a FilterExpressionError names the offset and what was expected. */
export function parseFilterExpression(source: string): Expression {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new FilterExpressionLimitError(`filter_expression: longer than ${MAX_EXPRESSION_LENGTH} characters (${source.length})`);
  }
  const tokens = tokenize(source);
  if (tokens.length === 1) throw new FilterExpressionError(0, CONDITION, 'an empty expression');
  return new Parser(tokens).parse();
}
