import type { ListPage } from '../../query/index.js';
import type { RouteReply } from './route.js';

/** The query languages live in src/query; the API's list endpoints use them from here too. */
export {
  compileListQuery,
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
