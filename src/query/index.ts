/**
 * The query languages of the read models, below both the API and the
 * projections: the fields a read model declares, filterBy / search / sortBy
 * lists, filter expressions, and cursor pages (docs/query-language.md).
 */
export * from './errors.js';
export * from './fields.js';
export * from './list-query.js';
export { escapeRegex } from './regex.js';
export type * from './filter-expression/ast.js';
export { compileExpression, compileFilterExpression, MAX_EXPRESSION_LENGTH, MAX_IN_VALUES, MAX_NESTING_DEPTH } from './filter-expression/compile.js';
export { parseFilterExpression } from './filter-expression/parser.js';
export * from './cursor.js';
