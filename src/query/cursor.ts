import { z } from 'zod';
import type { Collection, Document, Filter, SortSpec } from '../ports/read-models.js';
import { InvalidCursorError } from './errors.js';
import type { ListFields } from './fields.js';
import { sortPath } from './list-query.js';

/**
 * Cursor pages: `{items, response_metadata: {prev_cursor, next_cursor, total}}`.
 *
 * A page is the next `limit` items after (or before) a position in a stable
 * order, the sort field then the id: keyset paging, so an item that exists
 * from the first page to the last is neither skipped nor repeated, whatever is
 * created or deleted in between (only a change of an item's own sort value can
 * move it across the position). The cursor is opaque to clients: base64url
 * JSON of the sort it belongs to, the sort value and id of the item at the
 * position, and the direction. A cursor that does not decode, or was made for
 * another sort, is a 400 (InvalidCursorError).
 */

export interface CursorPage<T> {
  readonly items: readonly T[];
  readonly response_metadata: {
    /** The page before this one; null on the first page. */
    readonly prev_cursor: string | null;
    /** The page after this one; null on the last page. */
    readonly next_cursor: string | null;
    /** How many items match the filter, on every page. */
    readonly total: number;
  };
}

export interface CursorPageRequest {
  /** The whole filter (scope and conditions), compiled. */
  readonly filter: Filter;
  /** A declared field name; the id breaks ties. */
  readonly sortBy: string;
  readonly sortOrder: 'asc' | 'desc';
  /** From a previous page's response_metadata; none for the first page. */
  readonly cursor?: string | undefined;
  readonly limit: number;
}

/** Longest cursor accepted, in characters. */
export const MAX_CURSOR_LENGTH = 4096;

type Key = string | number | boolean | null;

const cursorSchema = z
  .object({
    v: z.literal(1),
    /** The sort it belongs to: field name and order. */
    s: z.string().max(64),
    o: z.enum(['asc', 'desc']),
    /** The sort value and id of the item at the position. */
    k: z.union([z.string().max(2048), z.number(), z.boolean(), z.null()]),
    id: z.string().max(256),
    /** next: the items after the position; prev: those before it. */
    d: z.enum(['next', 'prev']),
  })
  .strict();
type Cursor = z.infer<typeof cursorSchema>;

const encode = (cursor: Cursor): string => Buffer.from(JSON.stringify(cursor)).toString('base64url');

function decode(text: string, sortBy: string, sortOrder: 'asc' | 'desc'): Cursor {
  if (text.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) throw new InvalidCursorError('cursor: not a cursor this service made (expected a value from response_metadata)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('cursor: not a cursor this service made (expected a value from response_metadata)');
  }
  const result = cursorSchema.safeParse(parsed);
  if (!result.success) throw new InvalidCursorError('cursor: damaged or not a cursor this service made (expected a value from response_metadata)');
  const cursor = result.data;
  if (cursor.s !== sortBy || cursor.o !== sortOrder) {
    throw new InvalidCursorError(`cursor: made for sort_by=${cursor.s} ${cursor.o}, used with sort_by=${sortBy} ${sortOrder}; start again without a cursor`);
  }
  return cursor;
}

const valueAt = (doc: unknown, path: string): unknown => {
  let value = doc;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
};

const keyOf = (doc: Document, path: string): Key => {
  const value = valueAt(doc, path);
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : null;
};

/**
 * The items strictly after (key, id) in the order `direction` of (path, _id).
 * Null and absent sort values come first in ascending order, as MongoDB sorts them.
 */
function beyond(path: string, direction: 1 | -1, key: Key, id: string): Filter {
  const idBeyond = { _id: direction === 1 ? { $gt: id } : { $lt: id } };
  if (key === null) {
    return direction === 1 ? { $or: [{ [path]: null, ...idBeyond }, { [path]: { $ne: null } }] } : { [path]: null, ...idBeyond };
  }
  const valueBeyond = { [path]: direction === 1 ? { $gt: key } : { $lt: key } };
  const clauses: Filter[] = [valueBeyond, { [path]: key, ...idBeyond }];
  if (direction === -1) clauses.push({ [path]: null });
  return { $or: clauses };
}

/**
 * Up to `count` items strictly after (key, id), in order. When the key is a
 * number or a string, the query is a plain range on the sort field (from the
 * key on, inclusive), which the in-memory adapter answers by bisection of its
 * sorted index, and the items tied with the key up to the id are dropped here;
 * if ties crowd the answer out, it asks again for more.
 */
async function after<D extends Document>(collection: Collection<D>, filter: Filter, path: string, direction: 1 | -1, key: Key, id: string, count: number): Promise<D[]> {
  const sort: SortSpec = { [path]: direction, _id: direction };
  if (typeof key !== 'string' && typeof key !== 'number') return collection.find(and(filter, beyond(path, direction, key, id)), { sort, limit: count });
  const range = { [path]: direction === 1 ? { $gte: key } : { $lte: key } };
  for (let extra = 16; ; extra *= 4) {
    const found = await collection.find(and(filter, range), { sort, limit: count + extra });
    const passed = (doc: D) => {
      const value = keyOf(doc, path);
      return value === key && (direction === 1 ? doc._id <= id : doc._id >= id);
    };
    let skip = 0;
    while (skip < found.length && passed(found[skip]!)) skip++;
    // Enough beyond the ties, or nothing more to read: done.
    if (found.length - skip >= count || found.length < count + extra) {
      const rest = found.slice(skip, skip + count);
      // Descending, null sort values come after every other: add them when the page has room.
      if (direction === -1 && rest.length < count) {
        rest.push(...(await collection.find(and(filter, { [path]: null }), { sort, limit: count - rest.length })));
      }
      return rest;
    }
  }
}

/** The filter and one more condition; the filter's top level stays as it is (the in-memory indexes read it there). */
const and = (filter: Filter, condition: Filter): Filter => ({ ...filter, $and: [...((filter.$and as Filter[] | undefined) ?? []), condition] });

/** One cursor page of a collection; the collection must sort and filter by the declared fields. */
export async function cursorPage<D extends Document, R>(
  collection: Collection<D>,
  fields: ListFields,
  request: CursorPageRequest,
  toResource: (doc: D) => R,
): Promise<CursorPage<R>> {
  const { sortBy, sortOrder, limit } = request;
  const path = sortPath(fields, sortBy);
  const direction = sortOrder === 'desc' ? -1 : 1;
  const cursor = request.cursor === undefined || request.cursor === '' ? undefined : decode(request.cursor, sortBy, sortOrder);
  const make = (doc: { key: Key; id: string }, d: 'next' | 'prev') => encode({ v: 1, s: sortBy, o: sortOrder, k: doc.key, id: doc.id, d });
  const position = (doc: D) => ({ key: keyOf(doc, path), id: doc._id });
  const forward: SortSpec = { [path]: direction, _id: direction };
  // The total through findPage: an adapter with a sorted index counts a pinned partition without testing each document.
  const total = collection.findPage(request.filter, { sort: forward, limit: 1 }).then((page) => page.total);
  total.catch(() => undefined); // awaited below; a failed page must not leave it unhandled

  const firstPage = async (): Promise<CursorPage<R>> => {
    const found = await collection.find(request.filter, { sort: forward, limit: limit + 1 });
    const items = found.slice(0, limit);
    return {
      items: items.map(toResource),
      response_metadata: { prev_cursor: null, next_cursor: found.length > limit ? make(position(items.at(-1)!), 'next') : null, total: await total },
    };
  };
  if (!cursor) return firstPage();

  if (cursor.d === 'next') {
    const found = await after(collection, request.filter, path, direction, cursor.k, cursor.id, limit + 1);
    const items = found.slice(0, limit);
    return {
      items: items.map(toResource),
      response_metadata: {
        // Back from here: before the first item, or before the position when nothing is left after it.
        prev_cursor: make(items.length > 0 ? position(items[0]!) : { key: cursor.k, id: cursor.id }, 'prev'),
        next_cursor: found.length > limit ? make(position(items.at(-1)!), 'next') : null,
        total: await total,
      },
    };
  }
  const backward: SortSpec = { [path]: -direction as 1 | -1, _id: -direction as 1 | -1 };
  const found = await collection.find(and(request.filter, beyond(path, -direction as 1 | -1, cursor.k, cursor.id)), { sort: backward, limit: limit + 1 });
  // Back at the start: the first page, full.
  if (found.length <= limit) return firstPage();
  const items = found.slice(0, limit).reverse();
  return {
    items: items.map(toResource),
    response_metadata: { prev_cursor: make(position(items[0]!), 'prev'), next_cursor: make(position(items.at(-1)!), 'next'), total: await total },
  };
}
