import type { NextFunction, Request, Response } from 'express';
import { InvalidRequestError } from '../http/errors.js';

/** How deep a request body may nest: the deepest body of any seed API is 4 levels. */
export const MAX_BODY_DEPTH = 32;

/**
 * Characters no text field may hold: C0 controls but tab, line feed and
 * carriage return; DEL and the C1 controls; the bidirectional embeddings,
 * overrides and isolates (U+202A–U+202E, U+2066–U+2069), which make a name
 * display as something else (CVE-2021-42574); and lone surrogates, which are
 * not text at all.
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const describeCharacter = (text: string): string => {
  const found = FORBIDDEN.exec(text)![0];
  return `U+${found.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
};

/** A path for an error message: bounded, so a long key does not make a long answer. */
const pathText = (path: readonly (string | number)[]): string =>
  path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${part.length > 64 ? `${part.slice(0, 64)}…` : part}`)).join('').replace(/^\./, '');

/**
 * The first problem with a parsed body or query, or undefined: nesting deeper
 * than MAX_BODY_DEPTH, or a key or string with a forbidden character.
 * Iterative, so no body can exhaust the stack.
 */
export function bodyShapeProblem(value: unknown, where: string): string | undefined {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === 'string') {
      if (FORBIDDEN.test(current)) return `${where}.${pathText(path)}: contains a control or bidirectional-formatting character (${describeCharacter(current)})`;
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (path.length >= MAX_BODY_DEPTH) return `${where}: nested deeper than ${MAX_BODY_DEPTH} levels`;
    if (Array.isArray(current)) {
      current.forEach((item, index) => stack.push({ value: item, path: [...path, index] }));
      continue;
    }
    for (const [key, item] of Object.entries(current)) {
      if (FORBIDDEN.test(key)) return `${where}.${pathText([...path, key])}: the key contains a control or bidirectional-formatting character (${describeCharacter(key)})`;
      stack.push({ value: item, path: [...path, key] });
    }
  }
  return undefined;
}

/** After the body parsers, before any route (and so before authentication): refuse bodies and queries of a bad shape. */
export function checkBodyShape(req: Request, _res: Response, next: NextFunction): void {
  const problem = bodyShapeProblem(req.body, 'body') ?? bodyShapeProblem(req.query, 'query');
  next(problem === undefined ? undefined : new InvalidRequestError(problem.replace(/^(body|query)\.:/, '$1:')));
}
