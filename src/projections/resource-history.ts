import jsonpatch, { type Operation } from 'fast-json-patch';
import type { ResourceKind } from '../domain/audit/attribution.js';
import { auditPosition } from '../ports/audit-log.js';
import type { AuditLog, AuditRecord } from '../ports/audit-log.js';
import type { ActorKind } from '../ports/event-store.js';
import type { Collection, Document, Filter, FindOptions, IndexSpec, ReadModelStore } from '../ports/read-models.js';
import type { Projection } from './projection.js';
import type { ReadModelSwitch } from './read-model-switch.js';
import { applyToProjection } from './runner.js';
import { emptyModels, TimeTravelTooLongError } from './time-travel.js';

export type { Operation as PatchOperation } from 'fast-json-patch';

/**
 * The kinds whose events can change how a resource of this kind reads
 * (a user's groupIDs come from its groups' events; a GET may look its
 * organization up): folded beside the resource's own events, each shown as a
 * version only when it changed the resource as the API shows it.
 */
const RELATED_KINDS: Partial<Record<ResourceKind, readonly ResourceKind[]>> = {
  user: ['organization', 'group'],
  group: ['organization'],
  serviceAccount: ['organization', 'group'],
  application: ['organization'],
  identityProvider: ['organization'],
  project: ['organization', 'group'],
  allocation: ['organization'],
  quota: ['organization', 'allocation'],
};

export interface ResourceVersion {
  /** 1 for the first version, counted over this history. */
  readonly revision: number;
  readonly position: bigint;
  readonly time: string;
  readonly actor: { readonly kind: ActorKind; readonly id: string };
  readonly type: string;
  /** RFC 6902: from the previous version as the API shows it to this one. */
  readonly changes: Operation[];
}

export interface HistoryPage {
  readonly items: ResourceVersion[];
  /** The position of the last item when more follow. */
  readonly next: bigint | undefined;
}

export interface ResourceRefInOrganization {
  readonly organizationId: string;
  readonly kind: ResourceKind;
  readonly id: string;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isPrimitive = (value: unknown): boolean => value === null || typeof value !== 'object';
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const pointer = (path: string, key: string | number): string => `${path}/${jsonpatch.escapePathComponent(String(key))}`;

/**
 * Lists of ids (roleIDs, userIDs) change as members come and go: their
 * patch removes the ids that left and adds those that came, rather than
 * rewriting positions, when that reproduces the new list; else the generic diff.
 */
function diffIdList(a: readonly unknown[], b: readonly unknown[], path: string, ops: Operation[]): boolean {
  const keep = new Set(b.map((item) => JSON.stringify(item)));
  const removed: number[] = [];
  a.forEach((item, index) => {
    if (!keep.has(JSON.stringify(item))) removed.push(index);
  });
  const remaining = a.filter((_, index) => !removed.includes(index));
  const had = new Set(remaining.map((item) => JSON.stringify(item)));
  const added = b.filter((item) => !had.has(JSON.stringify(item)));
  if (!same([...remaining, ...added], b)) return false;
  for (const index of removed.reverse()) ops.push({ op: 'remove', path: pointer(path, index) });
  added.forEach((value, i) => ops.push({ op: 'add', path: pointer(path, remaining.length + i), value }));
  return true;
}

function diffInto(a: unknown, b: unknown, path: string, ops: Operation[]): void {
  if (same(a, b)) return;
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const key of Object.keys(a)) if (!Object.hasOwn(b, key)) ops.push({ op: 'remove', path: pointer(path, key) });
    for (const [key, value] of Object.entries(b)) {
      if (!Object.hasOwn(a, key)) ops.push({ op: 'add', path: pointer(path, key), value });
      else diffInto(a[key], value, pointer(path, key), ops);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.every(isPrimitive) && b.every(isPrimitive) && diffIdList(a, b, path, ops)) return;
    for (const op of jsonpatch.compare(a, b)) ops.push({ ...op, path: path + op.path } as Operation);
    return;
  }
  ops.push({ op: 'replace', path, value: b });
}

/**
 * The RFC 6902 patch from one version of a document to the next. Undefined
 * stands for "does not exist": its creation adds the whole document at the
 * root, its deletion removes the root.
 */
export function changesBetween(previous: unknown, next: unknown): Operation[] {
  if (previous === undefined && next === undefined) return [];
  if (previous === undefined) return [{ op: 'add', path: '', value: next }];
  if (next === undefined) return [{ op: 'remove', path: '' }];
  const ops: Operation[] = [];
  diffInto(previous, next, '', ops);
  return ops;
}

/**
 * The fold's store, which notes what a read of the resource depended on (the
 * documents it read by id, the collections it queried) and what each event
 * wrote: an event of a related kind that wrote none of them cannot have
 * changed what the read answers, so the read is not run again for it.
 */
class TrackedStore implements ReadModelStore {
  readonly ephemeral = true;
  /** `collection id` of each document written, `collection` of each collection written, since the last `reset`. */
  private readonly written = new Set<string>();
  private readonly read = new Set<string>();
  private inRead = false;

  constructor(private readonly inner: ReadModelStore) {}

  /** Run a read of the resource, noting what it depends on. */
  async reading<R>(fn: () => Promise<R>): Promise<R> {
    this.read.clear();
    this.inRead = true;
    try {
      return await fn();
    } finally {
      this.inRead = false;
    }
  }

  /** Whether anything the last read depended on was written since `resetWrites`. */
  get readIsStale(): boolean {
    for (const key of this.read) if (this.written.has(key)) return true;
    return false;
  }

  resetWrites(): void {
    this.written.clear();
  }

  collection<T extends Document = Document>(name: string): Collection<T> {
    const inner = this.inner.collection<T>(name);
    const byId = (id: string) => `${name} ${id}`;
    const dependsOn = (key: string) => {
      if (this.inRead) this.read.add(key);
    };
    const wrote = (id: string) => {
      this.written.add(byId(id));
      this.written.add(name);
    };
    return {
      findById: (id: string) => (dependsOn(byId(id)), inner.findById(id)),
      findOne: (filter: Filter) => (dependsOn(name), inner.findOne(filter)),
      find: (filter: Filter, options?: FindOptions) => (dependsOn(name), inner.find(filter, options)),
      count: (filter: Filter) => (dependsOn(name), inner.count(filter)),
      findPage: (filter: Filter, options: FindOptions) => (dependsOn(name), inner.findPage(filter, options)),
      put: (document: T) => (wrote(document._id), inner.put(document)),
      delete: (id: string, position?: string) => (wrote(id), inner.delete(id, position)),
    };
  }

  ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    return this.inner.ensureIndexes(collection, indexes);
  }
  clear(collections: readonly string[]): Promise<void> {
    return this.inner.clear(collections);
  }
  getCheckpoint(projection: string): Promise<string | undefined> {
    return this.inner.getCheckpoint(projection);
  }
  setCheckpoint(projection: string, position: string | undefined): Promise<void> {
    return this.inner.setCheckpoint(projection, position);
  }
  async close(): Promise<void> {}
}

/** Several ascending record streams merged into one, by position. */
async function* mergeByPosition(sources: AsyncIterable<AuditRecord>[]): AsyncGenerator<AuditRecord> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const heads = await Promise.all(iterators.map((iterator) => iterator.next()));
  for (;;) {
    let best = -1;
    heads.forEach((head, i) => {
      if (head.done) return;
      if (best < 0 || auditPosition(head.value.event) < auditPosition((heads[best] as IteratorYieldResult<AuditRecord>).value.event)) best = i;
    });
    if (best < 0) return;
    const record = (heads[best] as IteratorYieldResult<AuditRecord>).value;
    heads[best] = await iterators[best]!.next();
    yield record;
  }
}

/**
 * A resource's versions (issue 11): its events, and those of related kinds,
 * folded in order through every projection into a fresh in-memory store;
 * after each, the resource is read with `read` (the GET route's own handler,
 * run against that store through the switch), so a version is exactly what
 * the GET answered then. An event of the resource is always a version (with
 * an empty patch when nothing shown changed); a related event is one only
 * when it changed what is shown.
 */
export class ResourceHistory {
  constructor(
    private readonly auditLog: AuditLog,
    private readonly projections: readonly Projection<any>[],
    private readonly readModels: ReadModelSwitch,
    /** At most this many events folded for one page (TIME_TRAVEL_MAX_EVENTS). */
    private readonly maxEvents: number,
  ) {}

  /**
   * The versions after the one at `after` (a position), at most `limit`;
   * undefined when the resource never existed in the organization.
   */
  async page(
    ref: ResourceRefInOrganization,
    read: () => Promise<unknown>,
    options: { readonly after?: bigint; readonly limit: number },
  ): Promise<HistoryPage | undefined> {
    const { organizationId, kind, id } = ref;
    const sources = [
      this.auditLog.records({ organizationId, resourceKind: kind, resource: id, order: 'asc' }),
      ...(RELATED_KINDS[kind] ?? []).map((related) => this.auditLog.records({ organizationId, resourceKind: related, order: 'asc' })),
    ];
    const store = new TrackedStore(await emptyModels(this.projections));
    const items: ResourceVersion[] = [];
    let previous: unknown;
    let revision = 0;
    let folded = 0;
    let existed = false;
    let everRead = false;
    for await (const record of mergeByPosition(sources)) {
      if (++folded > this.maxEvents) throw new TimeTravelTooLongError(organizationId, this.maxEvents);
      const { event } = record;
      store.resetWrites();
      for (const projection of this.projections) await applyToProjection(projection, store.collection(projection.collection), event);
      const own = record.resource.kind === kind && record.resource.id === id;
      // A related event that wrote nothing the last read looked at changed nothing it shows.
      if (!own && everRead && !store.readIsStale) continue;
      everRead = true;
      const current = await store.reading(() => this.readModels.run(store, read));
      if (!own && same(previous, current)) continue;
      // It existed once it had an event of its own or was shown (a quota set is shown from its first allocation).
      existed = true;
      revision += 1;
      const position = auditPosition(event);
      if (options.after === undefined || position > options.after) {
        if (items.length === options.limit) return { items, next: items[items.length - 1]!.position };
        items.push({
          revision,
          position,
          time: event.metadata.occurredAt,
          actor: { kind: event.metadata.actor.kind, id: event.metadata.actor.subject },
          type: event.type,
          changes: changesBetween(previous, current),
        });
      }
      previous = current;
    }
    return existed ? { items, next: undefined } : undefined;
  }
}
