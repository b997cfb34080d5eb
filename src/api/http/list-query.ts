import { z } from 'zod';
import { DEFAULT_LIMIT, type ListPage, MAX_CURSOR_LENGTH, MAX_EXPRESSION_LENGTH, MAX_LIMIT } from '../../query/index.js';
import type { RouteReply } from './route.js';

/** The query languages live in src/query; the API's list endpoints use them from here too. */
export {
  compileListQuery,
  type CursorPage,
  cursorPage,
  type CompiledListQuery,
  DEFAULT_LIMIT,
  type FieldType,
  type ListField,
  type ListFields,
  type ListPage,
  listPage,
  type ListQuery,
  listQuerySchema,
  MAX_LIMIT,
  METADATA_FIELDS,
  ORGANIZATION_SCOPED_FIELDS,
} from '../../query/index.js';

/** The total before paging goes in this header. */
export const TOTAL_COUNT_HEADER = 'X-Total-Count';

/** A list endpoint's answer: the bare array of the page's items, and the total in the header. */
export const listReply = (page: ListPage<unknown>): RouteReply => ({ status: 200, body: page.items, headers: { [TOTAL_COUNT_HEADER]: String(page.total) } });

/**
 * The body of a search (the seed's filter-expression request, docs/query-language.md):
 * a filter expression, a sort, and a cursor from a previous page.
 */
export const cursorSearchSchema = z
  .object({
    filter_expression: z.string().max(MAX_EXPRESSION_LENGTH, `must be at most ${MAX_EXPRESSION_LENGTH} characters`).optional()
      .meta({ description: "A filter expression, e.g. `state EQ 'active' AND NOT name CONTAINS 'test'`; the fields are in x-filterable." }),
    sort_by: z.string().max(64).optional(),
    sort_order: z.enum(['asc', 'desc']).default('asc'),
    cursor: z.string().max(MAX_CURSOR_LENGTH).optional().meta({ description: 'prev_cursor or next_cursor of a previous page, with the same sort.' }),
    limit: z.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
  })
  .strict()
  .meta({ id: 'cursorSearch' });
export type CursorSearch = z.infer<typeof cursorSearchSchema>;

/** A cursor page of items of the schema: `{items, response_metadata: {prev_cursor, next_cursor, total}}`. */
export const cursorPageSchema = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    response_metadata: z.object({
      prev_cursor: z.string().nullable(),
      next_cursor: z.string().nullable(),
      total: z.number().int().min(0),
    }),
  });
