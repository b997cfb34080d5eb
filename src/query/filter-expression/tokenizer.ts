import { FilterExpressionError } from '../errors.js';

/**
 * The tokens of a filter expression. Keywords (operators, NOT/AND/OR, SEARCH,
 * nil, true, false) are identifiers matched case-insensitively; everything else
 * that looks like a name is a field.
 */
export type Token =
  | { readonly type: 'keyword'; readonly keyword: Keyword; readonly text: string; readonly offset: number }
  | { readonly type: 'identifier'; readonly name: string; readonly offset: number }
  | { readonly type: 'string'; readonly value: string; readonly text: string; readonly offset: number }
  | { readonly type: 'number'; readonly value: number; readonly text: string; readonly offset: number }
  | { readonly type: 'datetime'; readonly text: string; readonly offset: number }
  | { readonly type: 'punctuation'; readonly text: '(' | ')' | '[' | ']' | '{' | '}' | ','; readonly offset: number }
  | { readonly type: 'end'; readonly offset: number };

export const KEYWORDS = ['AND', 'OR', 'NOT', 'SEARCH', 'CONTAINS', 'IN', 'GE', 'GT', 'LE', 'LT', 'NE', 'EQ', 'NIL', 'TRUE', 'FALSE'] as const;
export type Keyword = (typeof KEYWORDS)[number];
const KEYWORD_SET: ReadonlySet<string> = new Set(KEYWORDS);

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
/** RFC 3339 date-time (section 5.6): full-date "T" full-time, T and Z in either case. */
const DATETIME = /\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})/y;
/** Signed integers and decimals with an optional exponent: 0, -1, 1.2, 1.2e-2, -1.2e+2. */
const NUMBER = /[+-]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\r\n]+/y;

const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', "'": "'", '"': '"', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Shown in errors: a bounded, quoted excerpt of what was found. */
export const describeFound = (text: string): string => JSON.stringify(text.length > 24 ? `${text.slice(0, 24)}…` : text);

const sticky = (regex: RegExp, source: string, at: number): string | undefined => {
  regex.lastIndex = at;
  return regex.exec(source)?.[0];
};

function readString(source: string, start: number): { value: string; end: number } {
  const quote = source[start]!;
  let value = '';
  let i = start + 1;
  while (i < source.length) {
    const c = source[i]!;
    if (c === quote) return { value, end: i + 1 };
    if (c === '\\') {
      const next = source[i + 1];
      if (next === undefined) break;
      if (next === 'u') {
        const hex = source.slice(i + 2, i + 6);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) throw new FilterExpressionError(i, 'four hex digits after \\u', describeFound(source.slice(i, i + 6)));
        value += String.fromCharCode(Number.parseInt(hex, 16));
        i += 6;
        continue;
      }
      const escaped = ESCAPES[next];
      if (escaped === undefined) throw new FilterExpressionError(i, `an escape (\\\\, \\${quote}, \\n, \\t, \\r, \\b, \\f, \\/ or \\uXXXX)`, describeFound(source.slice(i, i + 2)));
      value += escaped;
      i += 2;
      continue;
    }
    value += c;
    i++;
  }
  throw new FilterExpressionError(source.length, `the closing ${quote} of the string that starts at offset ${start}`, 'the end of the expression');
}

/** Split the expression into tokens, ending with an `end` token; a character that starts no token is an error at its offset. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (true) {
    const space = sticky(WHITESPACE, source, i);
    if (space) i += space.length;
    if (i >= source.length) break;
    const c = source[i]!;
    if ('()[]{},'.includes(c)) {
      tokens.push({ type: 'punctuation', text: c as '(' | ')' | '[' | ']' | '{' | '}' | ',', offset: i });
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      const { value, end } = readString(source, i);
      tokens.push({ type: 'string', value, text: source.slice(i, end), offset: i });
      i = end;
      continue;
    }
    const datetime = /\d/.test(c) ? sticky(DATETIME, source, i) : undefined;
    if (datetime) {
      tokens.push({ type: 'datetime', text: datetime, offset: i });
      i += datetime.length;
      continue;
    }
    const number = sticky(NUMBER, source, i);
    if (number) {
      const after = source[i + number.length];
      if (after !== undefined && /[A-Za-z0-9_.]/.test(after)) {
        throw new FilterExpressionError(i, 'a number (e.g. 0, -1, 1.2, 1.2e-2) or an RFC 3339 date-time', describeFound(source.slice(i, i + number.length + 8).split(/[\s()[\]{},]/)[0]!));
      }
      tokens.push({ type: 'number', value: Number(number), text: number, offset: i });
      i += number.length;
      continue;
    }
    const word = sticky(IDENTIFIER, source, i);
    if (word) {
      const upper = word.toUpperCase();
      if (KEYWORD_SET.has(upper)) tokens.push({ type: 'keyword', keyword: upper as Keyword, text: word, offset: i });
      else tokens.push({ type: 'identifier', name: word, offset: i });
      i += word.length;
      continue;
    }
    throw new FilterExpressionError(i, 'a field, a value, an operator or a parenthesis', describeFound(source.slice(i, i + 1)));
  }
  tokens.push({ type: 'end', offset: source.length });
  return tokens;
}
