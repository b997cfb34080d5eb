import { z } from 'zod';
import type { Filter, SortSpec } from '../../../ports/read-models.js';
import { InvalidRequestError } from '../../http/errors.js';

/**
 * Opaque cursors over a stable sort key (creation time, then id): a page
 * after (or before) the item a cursor names. Items created or deleted
 * between pages move no other item: none that existed throughout is skipped
 * or repeated. (To be replaced by the shared query module's cursor pages.)
 */
const cursorSchema = z.object({ t: z.string().max(64), i: z.string().max(128), d: z.enum(['next', 'prev']) }).strict();
export type Cursor = z.infer<typeof cursorSchema>;

export const encodeCursor = (cursor: Cursor): string => Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');

export function decodeCursor(text: string): Cursor {
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
  } catch {
    throw new InvalidRequestError('cursor: not a cursor this service handed out');
  }
}

const TIME = 'metadata.creationTime';

export interface CursorPage<T> {
  readonly items: T[];
  readonly prev_cursor: string | null;
  readonly next_cursor: string | null;
}

/** One page of `find` from the cursor (or the start), `limit` items, with cursors to its neighbours. */
export async function cursorPage<T extends { _id: string; metadata: { creationTime: string } }>(
  find: (filter: Filter, sort: SortSpec, limit: number) => Promise<T[]>,
  base: Filter,
  cursor: Cursor | undefined,
  limit: number,
): Promise<CursorPage<T>> {
  const backward = cursor?.d === 'prev';
  const op = backward ? '$lt' : '$gt';
  const after: Filter = cursor ? { $or: [{ [TIME]: { [op]: cursor.t } }, { [TIME]: cursor.t, _id: { [op]: cursor.i } }] } : {};
  const direction = backward ? -1 : 1;
  const found = await find(cursor ? { ...base, $and: [...((base.$and as Filter[] | undefined) ?? []), after] } : base, { [TIME]: direction, _id: direction }, limit + 1);
  const more = found.length > limit;
  const items = found.slice(0, limit);
  if (backward) items.reverse();
  const first = items[0];
  const last = items.at(-1);
  const at = (doc: T, d: Cursor['d']) => encodeCursor({ t: doc.metadata.creationTime, i: doc._id, d });
  if (!first || !last) return { items, prev_cursor: null, next_cursor: null };
  return backward
    ? { items, prev_cursor: more ? at(first, 'prev') : null, next_cursor: at(last, 'next') }
    : { items, prev_cursor: cursor ? at(first, 'prev') : null, next_cursor: more ? at(last, 'next') : null };
}
