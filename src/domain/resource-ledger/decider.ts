import type { SnapshotPolicy } from '../../ports/snapshots.js';
import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { AllocationSpec, QuotaQuantity, ResourceAllocation, ResourceLedgerEvent } from './events.js';

/** A kind of resource an organization has a quota of, as configured (QUOTA_DEFAULTS). */
export interface QuotaKind {
  readonly kind: string;
  readonly displayName: string;
  readonly description: string;
  /** The quantity until the organization's quota is set. */
  readonly default: number;
}

/** The change would take the organization past its quota of some kind. */
export class QuotaExceededError extends ConflictError {
  override readonly name: string = 'QuotaExceededError';
}

export interface AllocationDetails {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly spec: AllocationSpec;
}

export interface LiveAllocation extends AllocationDetails {
  readonly projectId: string;
}

/**
 * What the decisions need: the quotas set explicitly, every live allocation,
 * the projects being deleted, and whether the organization is; and, kept up
 * to date by `evolve`, the indexes that make every decision independent of how
 * many allocations there are: usage per kind, allocations per project, names
 * per project.
 *
 * An organization's ledger lives as long as the organization, so its fold
 * must cost the same for every event: `evolve` updates this state in place
 * (constant work per event) and returns it. The state belongs to whoever
 * folds it (the command pipeline); decisions only read it.
 */
export interface LedgerState {
  /** Quotas set explicitly, by kind (the others are the configured defaults). */
  readonly quotas: Map<string, number>;
  /** Every live allocation, by id, in the order they were created. */
  readonly allocations: Map<string, LiveAllocation>;
  /** committed + reserved per kind, over the live allocations. */
  readonly usage: Map<string, number>;
  /** The live allocations' ids of each project. */
  readonly byProject: Map<string, Set<string>>;
  /** The allocation holding a name in a project: key `${projectId}\n${lower-case name}`. */
  readonly names: Map<string, string>;
  readonly closedProjects: Set<string>;
  closed: boolean;
}

const nameKey = (projectId: string, name: string): string => `${projectId}\n${name.toLowerCase()}`;

/** Count an allocation in the indexes (sign 1) or take it out of them (sign -1). */
function index(state: LedgerState, allocationId: string, allocation: LiveAllocation, sign: 1 | -1, withProject: boolean): void {
  for (const amount of allocation.spec.allocations) {
    state.usage.set(amount.kind, (state.usage.get(amount.kind) ?? 0) + sign * (amount.committed + amount.reserved));
  }
  const key = nameKey(allocation.projectId, allocation.name);
  if (sign === 1) state.names.set(key, allocationId);
  else if (state.names.get(key) === allocationId) state.names.delete(key);
  if (!withProject) return;
  let ids = state.byProject.get(allocation.projectId);
  if (sign === 1) {
    if (!ids) state.byProject.set(allocation.projectId, (ids = new Set()));
    ids.add(allocationId);
  } else {
    ids?.delete(allocationId);
    if (ids?.size === 0) state.byProject.delete(allocation.projectId);
  }
}

/** How many allocations go into one chunk of a snapshot. */
const SNAPSHOT_CHUNK = 1000;

type LedgerSnapshotChunk =
  | { readonly quotas: [string, number][]; readonly closedProjects: string[]; readonly closed: boolean }
  | { readonly allocations: [string, LiveAllocation][] };

/**
 * Snapshots of the ledger: the quotas and flags in a first chunk, then the
 * allocations in creation order, SNAPSHOT_CHUNK to a chunk; the indexes are
 * rebuilt on restore. Bump the version when LedgerState or evolve changes.
 */
const ledgerSnapshots: SnapshotPolicy<LedgerState, ResourceLedgerEvent> = {
  version: 'resource-ledger-1',
  evolvesInPlace: true,
  *encode(state) {
    yield { quotas: [...state.quotas], closedProjects: [...state.closedProjects], closed: state.closed } satisfies LedgerSnapshotChunk;
    let page: [string, LiveAllocation][] = [];
    for (const entry of state.allocations) {
      page.push(entry);
      if (page.length === SNAPSHOT_CHUNK) {
        yield { allocations: page } satisfies LedgerSnapshotChunk;
        page = [];
      }
    }
    if (page.length > 0) yield { allocations: page } satisfies LedgerSnapshotChunk;
  },
  restore(state, data) {
    const chunk = data as LedgerSnapshotChunk;
    if ('allocations' in chunk) {
      for (const [allocationId, allocation] of chunk.allocations) {
        state.allocations.set(allocationId, allocation);
        index(state, allocationId, allocation, 1, true);
      }
      return state;
    }
    for (const [kind, quantity] of chunk.quotas) state.quotas.set(kind, quantity);
    for (const projectId of chunk.closedProjects) state.closedProjects.add(projectId);
    state.closed = chunk.closed;
    return state;
  },
};

export const resourceLedgerDecider: Decider<LedgerState, ResourceLedgerEvent> & { readonly snapshot: SnapshotPolicy<LedgerState, ResourceLedgerEvent> } = {
  snapshot: ledgerSnapshots,
  initialState: () => ({
    quotas: new Map(),
    allocations: new Map(),
    usage: new Map(),
    byProject: new Map(),
    names: new Map(),
    closedProjects: new Set(),
    closed: false,
  }),
  evolve(state, event) {
    switch (event.type) {
      case 'quotas.updated':
        for (const { kind, quantity } of event.data.quotas) state.quotas.set(kind, quantity);
        return state;
      case 'allocation.created':
      case 'allocation.updated': {
        const { allocationId, projectId, name, description, tags, spec } = event.data;
        const allocation: LiveAllocation = { projectId, name, ...(description !== undefined && { description }), tags, spec };
        const existing = state.allocations.get(allocationId);
        // An update keeps the allocation's place in the order (Map.set on an existing key does).
        const moved = existing === undefined || existing.projectId !== projectId;
        if (existing) index(state, allocationId, existing, -1, moved);
        state.allocations.set(allocationId, allocation);
        index(state, allocationId, allocation, 1, moved);
        return state;
      }
      case 'allocation.deleted': {
        const existing = state.allocations.get(event.data.allocationId);
        if (existing) {
          index(state, event.data.allocationId, existing, -1, true);
          state.allocations.delete(event.data.allocationId);
        }
        return state;
      }
      case 'resource_ledger.project_closed':
        state.closedProjects.add(event.data.projectId);
        return state;
      case 'resource_ledger.closed':
        state.quotas.clear();
        state.closed = true;
        return state;
      default:
        return assertNever(event);
    }
  },
};

export const quotaOf = (state: LedgerState, kind: QuotaKind): number => state.quotas.get(kind.kind) ?? kind.default;

/** committed + reserved of one kind, over the live allocations. */
export const usageOf = (state: LedgerState, kind: string): number => state.usage.get(kind) ?? 0;

/** What one allocation holds of a kind (committed + reserved). */
const holds = (allocation: AllocationDetails | undefined, kind: string): number => {
  let held = 0;
  for (const amount of allocation?.spec.allocations ?? []) if (amount.kind === kind) held += amount.committed + amount.reserved;
  return held;
};

function requireKnownKinds(items: readonly { kind: string }[], kinds: readonly QuotaKind[]): void {
  const seen = new Set<string>();
  for (const { kind } of items) {
    if (!kinds.some((k) => k.kind === kind)) {
      throw new InvalidCommandError(`unknown resource kind "${kind}"; known kinds: ${kinds.map((k) => k.kind).join(', ')}`);
    }
    if (seen.has(kind)) throw new InvalidCommandError(`resource kind "${kind}" is listed more than once`);
    seen.add(kind);
  }
}

/**
 * The invariant: no kind's usage may end above its quota. Only kinds whose
 * usage grows are checked, so that shrinking or removing an allocation is
 * always possible, even where a lowered default left usage above the quota.
 */
function requireWithinQuotas(state: LedgerState, allocationId: string, next: AllocationDetails, kinds: readonly QuotaKind[]): void {
  const current = state.allocations.get(allocationId);
  for (const kind of kinds) {
    const before = usageOf(state, kind.kind);
    const after = before - holds(current, kind.kind) + holds(next, kind.kind);
    const quota = quotaOf(state, kind);
    if (after > before && after > quota) {
      throw new QuotaExceededError(`quota exceeded for ${kind.kind}: ${after} would be allocated, the quota is ${quota} (${quota - before} free)`);
    }
  }
}

const nameTaken = (state: LedgerState, projectId: string, name: string, except?: string): boolean => {
  const holder = state.names.get(nameKey(projectId, name));
  return holder !== undefined && holder !== except;
};

const copyAmounts = (amounts: readonly ResourceAllocation[]): ResourceAllocation[] => amounts.map(({ kind, committed, reserved }) => ({ kind, committed, reserved }));

interface AllocationRef {
  readonly organizationId: string;
  readonly projectId: string;
  readonly allocationId: string;
}

const eventDetails = (command: AllocationRef & AllocationDetails) => {
  const { organizationId, projectId, allocationId, name, description, tags, spec } = command;
  return {
    organizationId,
    projectId,
    allocationId,
    name,
    ...(description !== undefined && { description }),
    tags: [...tags],
    spec: { kind: spec.kind, id: spec.id, allocations: copyAmounts(spec.allocations) },
  };
};

/** Set the quotas of the listed kinds; the others keep theirs. A quota below what is allocated is refused. */
export function setQuotas(
  state: LedgerState,
  command: { organizationId: string; quotas: readonly QuotaQuantity[] },
  kinds: readonly QuotaKind[],
): ResourceLedgerEvent[] {
  requireOpen(state, command.organizationId);
  requireKnownKinds(command.quotas, kinds);
  for (const { kind, quantity } of command.quotas) {
    const used = usageOf(state, kind);
    if (quantity < used) throw new ConflictError(`the quota for ${kind} cannot be ${quantity}: ${used} is allocated`);
  }
  const changed = command.quotas.filter(({ kind, quantity }) => state.quotas.get(kind) !== quantity);
  if (changed.length === 0) return [];
  return [{ type: 'quotas.updated', data: { organizationId: command.organizationId, quotas: changed.map(({ kind, quantity }) => ({ kind, quantity })) } }];
}

export function createAllocation(
  state: LedgerState,
  command: AllocationRef & AllocationDetails,
  kinds: readonly QuotaKind[],
): ResourceLedgerEvent[] {
  requireOpen(state, command.organizationId);
  if (state.closedProjects.has(command.projectId)) throw new ConflictError(`project ${command.projectId} is being deleted`);
  if (state.allocations.has(command.allocationId)) throw new ConflictError(`allocation ${command.allocationId} already exists`);
  if (nameTaken(state, command.projectId, command.name)) throw new ConflictError(`an allocation named "${command.name}" already exists in the project`);
  requireKnownKinds(command.spec.allocations, kinds);
  const created = eventDetails(command);
  requireWithinQuotas(state, command.allocationId, created, kinds);
  return [{ type: 'allocation.created', data: created }];
}

/** A closed ledger belongs to an organization on its way out: it takes nothing new. */
const requireOpen = (state: LedgerState, organizationId: string): void => {
  if (state.closed) throw new ConflictError(`organization ${organizationId} is being deleted`);
};

const requireAllocation = (state: LedgerState, command: AllocationRef): LiveAllocation => {
  const allocation = state.allocations.get(command.allocationId);
  // An allocation of another project is not found under this one.
  if (!allocation || allocation.projectId !== command.projectId) throw new NotFoundError(`allocation ${command.allocationId} not found`);
  return allocation;
};

const sameDetails = (a: AllocationDetails, b: AllocationDetails): boolean =>
  JSON.stringify([a.name, a.description ?? null, a.tags, a.spec]) === JSON.stringify([b.name, b.description ?? null, b.tags, b.spec]);

export function updateAllocation(
  state: LedgerState,
  command: AllocationRef & AllocationDetails,
  kinds: readonly QuotaKind[],
): ResourceLedgerEvent[] {
  const current = requireAllocation(state, command);
  if (nameTaken(state, command.projectId, command.name, command.allocationId)) {
    throw new ConflictError(`an allocation named "${command.name}" already exists in the project`);
  }
  requireKnownKinds(command.spec.allocations, kinds);
  const updated = eventDetails(command);
  if (sameDetails(current, updated)) return [];
  requireWithinQuotas(state, command.allocationId, updated, kinds);
  return [{ type: 'allocation.updated', data: updated }];
}

export function deleteAllocation(state: LedgerState, command: AllocationRef): ResourceLedgerEvent[] {
  requireAllocation(state, command);
  const { organizationId, projectId, allocationId } = command;
  return [{ type: 'allocation.deleted', data: { organizationId, projectId, allocationId } }];
}

/**
 * A project being deleted gives back everything it holds and takes nothing
 * more, in one append: an allocation decided concurrently either lands before
 * (and is released here) or after (and is refused).
 */
export function closeProject(state: LedgerState, command: { organizationId: string; projectId: string }): ResourceLedgerEvent[] {
  if (state.closedProjects.has(command.projectId)) return [];
  const { organizationId, projectId } = command;
  const released: ResourceLedgerEvent[] = [...(state.byProject.get(projectId) ?? [])].map((allocationId) => ({
    type: 'allocation.deleted',
    data: { organizationId, projectId, allocationId },
  }));
  return [...released, { type: 'resource_ledger.project_closed', data: { organizationId, projectId } }];
}

/**
 * Close many projects in one append (the organization's cascade): one write to
 * the shared stream instead of one each. Projects hold disjoint allocations, so
 * each is closed against the same state (which decisions never change).
 */
export function closeProjects(state: LedgerState, command: { organizationId: string; projectIds: readonly string[] }): ResourceLedgerEvent[] {
  const events: ResourceLedgerEvent[] = [];
  for (const projectId of new Set(command.projectIds)) events.push(...closeProject(state, { organizationId: command.organizationId, projectId }));
  return events;
}

/**
 * The last step of an organization's cascade before it goes: whatever
 * allocations are left are released, the quotas are dropped, and the ledger
 * takes nothing more. Closing twice records nothing.
 */
export function closeLedger(state: LedgerState, command: { organizationId: string }): ResourceLedgerEvent[] {
  if (state.closed) return [];
  const { organizationId } = command;
  const released: ResourceLedgerEvent[] = [...state.allocations].map(([allocationId, allocation]) => ({
    type: 'allocation.deleted',
    data: { organizationId, projectId: allocation.projectId, allocationId },
  }));
  return [...released, { type: 'resource_ledger.closed', data: { organizationId } }];
}
