import { z } from 'zod';
import type { Collection, Document, Filter, SortSpec } from '../ports/read-models.js';
import { InvalidListQueryError } from './errors.js';
import { compileFilterExpression, MAX_EXPRESSION_LENGTH } from './filter-expression/compile.js';
import { fieldNamed, type FieldType, type ListFields } from './fields.js';
import { escapeRegex } from './regex.js';

/**
 * The query parameters every list endpoint accepts:
 *   sortBy, sortOrder (asc|desc), offset, limit (default 100, at most 500),
 *   search (case-insensitive substring over the filterable fields),
 *   repeatable filterBy=<field><op><value> with ==, !=, <=, >= and =@ (contains),
 *   and filterExpression, the filter-expression language (docs/query-language.md).
 * They compile to a MongoDB query document, so both read-model adapters run the same query.
 */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 500;

/** A plain decimal integer: no sign, hex, exponent, fraction or spaces (Number() would read "0x10" as 16). */
const decimal = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a decimal integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const oneOrMany = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

export const listQuerySchema = z
  .object({
    sortBy: z.string().max(64).optional(),
    sortOrder: z.enum(['asc', 'desc']).default('asc'),
    offset: decimal(0, 1_000_000).default(0),
    limit: decimal(1, MAX_LIMIT).default(DEFAULT_LIMIT),
    search: z.string().max(256).optional(),
    filterBy: oneOrMany.optional(),
    filterExpression: z
      .string()
      .max(MAX_EXPRESSION_LENGTH, `must be at most ${MAX_EXPRESSION_LENGTH} characters`)
      .optional()
      .meta({ description: "A filter expression (docs/query-language.md), e.g. `state EQ 'active' AND NOT name CONTAINS 'test'`; ANDed with filterBy and search." }),
  })
  .strict();
export type ListQuery = z.infer<typeof listQuerySchema>;

const FILTER = /^([A-Za-z][A-Za-z0-9_.]*)(==|!=|<=|>=|=@)(.*)$/s;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function parseValue(field: string, type: FieldType, raw: string): string | number | boolean {
  switch (type) {
    case 'string':
      return raw;
    case 'date': {
      const time = Date.parse(raw);
      if (!ISO_8601.test(raw) || Number.isNaN(time)) throw new InvalidListQueryError(`filterBy ${field}: "${raw}" is not an ISO 8601 date`);
      // Stored as ISO strings in UTC, so they compare as strings.
      return new Date(time).toISOString();
    }
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new InvalidListQueryError(`filterBy ${field}: "${raw}" is not a number`);
      return n;
    }
    case 'boolean':
      if (raw !== 'true' && raw !== 'false') throw new InvalidListQueryError(`filterBy ${field}: "${raw}" is not true or false`);
      return raw === 'true';
  }
}

function compileFilter(expression: string, fields: ListFields): Filter {
  const match = FILTER.exec(expression);
  if (!match) {
    throw new InvalidListQueryError(`filterBy "${expression}": expected <field><op><value> with op one of == != <= >= =@`);
  }
  const [, name, op, raw] = match as unknown as [string, string, string, string];
  const field = fieldNamed(fields, name);
  if (!field) throw new InvalidListQueryError(`filterBy: unknown field "${name}"; filterable fields: ${Object.keys(fields).join(', ')}`);
  if (field.type === 'objects') throw new InvalidListQueryError(`filterBy ${name}: a list of objects; use filterExpression with ${name} CONTAINS {…}`);
  if (op === '=@') {
    if (field.type !== 'string') throw new InvalidListQueryError(`filterBy ${name}: =@ (contains) applies to text fields only`);
    return { [field.path]: { $regex: escapeRegex(raw), $options: 'i' } };
  }
  const value = parseValue(name, field.type, raw);
  if ((op === '<=' || op === '>=') && field.type === 'boolean') {
    throw new InvalidListQueryError(`filterBy ${name}: ${op} does not apply to true/false fields`);
  }
  switch (op) {
    case '==':
      return { [field.path]: value };
    case '!=':
      return { [field.path]: { $ne: value } };
    case '<=':
      return { [field.path]: { $lte: value } };
    default:
      return { [field.path]: { $gte: value } };
  }
}

export interface CompiledListQuery {
  readonly filter: Filter;
  readonly sort: SortSpec;
  readonly skip: number;
  readonly limit: number;
}

/** The filter clauses of a list request (filterBy, search, filterExpression), before the base that scopes it. */
export function listQueryClauses(query: Pick<ListQuery, 'filterBy' | 'search' | 'filterExpression'>, fields: ListFields): Filter[] {
  const clauses: Filter[] = [];
  for (const expression of query.filterBy ?? []) clauses.push(compileFilter(expression, fields));
  if (query.search !== undefined && query.search !== '') {
    const pattern = { $regex: escapeRegex(query.search), $options: 'i' };
    const searchable = Object.values(fields).filter((f) => f.type === 'string' && f.searchable !== false && !f.list);
    clauses.push({ $or: searchable.map((f) => ({ [f.path]: pattern })) });
  }
  if (query.filterExpression !== undefined && query.filterExpression.trim() !== '') {
    clauses.push(compileFilterExpression(query.filterExpression, fields));
  }
  return clauses;
}

/** The base filter and the clauses together; the base stays at the top level, where the in-memory indexes see it. */
export const withBase = (base: Filter, clauses: readonly Filter[]): Filter => (clauses.length === 0 ? base : { ...base, $and: [...clauses] });

/** The document path of the field a list sorts by. */
export function sortPath(fields: ListFields, sortName: string): string {
  const sortField = fieldNamed(fields, sortName);
  if (!sortField || sortField.type === 'objects') {
    throw new InvalidListQueryError(`sortBy: unknown field "${sortName}"; sortable fields: ${sortableNames(fields).join(', ')}`);
  }
  return sortField.path;
}

const sortableNames = (fields: ListFields) => Object.entries(fields).filter(([, f]) => f.type !== 'objects').map(([name]) => name);

/**
 * Compile a list request into a read-model query, on top of a base filter that
 * scopes it (its organization, the projects the caller may see).
 */
export function compileListQuery(query: ListQuery, fields: ListFields, base: Filter, defaultSort = 'name'): CompiledListQuery {
  const clauses = listQueryClauses(query, fields);
  const path = sortPath(fields, query.sortBy ?? defaultSort);
  const direction = query.sortOrder === 'desc' ? -1 : 1;
  return {
    filter: withBase(base, clauses),
    // The id breaks ties, so pages are stable.
    sort: { [path]: direction, _id: direction },
    skip: query.offset,
    limit: query.limit,
  };
}

export interface ListPage<T> {
  readonly items: readonly T[];
  /** How many matched, before paging. */
  readonly total: number;
}

/** One page of a collection for a list request, each document in the shape the API reads. */
export async function listPage<D extends Document, R>(
  collection: Collection<D>,
  query: ListQuery,
  fields: ListFields,
  base: Filter,
  toResource: (doc: D) => R,
): Promise<ListPage<R>> {
  const { filter, ...options } = compileListQuery(query, fields, base);
  const page = await collection.findPage(filter, options);
  return { items: page.items.map(toResource), total: page.total };
}
