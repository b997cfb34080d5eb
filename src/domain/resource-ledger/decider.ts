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

/** What the decisions need: the quotas set explicitly, every live allocation, the projects being deleted, and whether the organization is. */
export interface LedgerState {
  readonly quotas: Readonly<Record<string, number>>;
  readonly allocations: Readonly<Record<string, LiveAllocation>>;
  readonly closedProjects: readonly string[];
  readonly closed: boolean;
}

const withoutKey = <T>(record: Readonly<Record<string, T>>, key: string): Record<string, T> => {
  const { [key]: _removed, ...rest } = record;
  return rest;
};

export const resourceLedgerDecider: Decider<LedgerState, ResourceLedgerEvent> = {
  initialState: () => ({ quotas: {}, allocations: {}, closedProjects: [], closed: false }),
  evolve(state, event) {
    switch (event.type) {
      case 'quotas.updated': {
        const quotas = { ...state.quotas };
        for (const { kind, quantity } of event.data.quotas) quotas[kind] = quantity;
        return { ...state, quotas };
      }
      case 'allocation.created':
      case 'allocation.updated': {
        const { allocationId, projectId, name, description, tags, spec } = event.data;
        return { ...state, allocations: { ...state.allocations, [allocationId]: { projectId, name, description, tags, spec } } };
      }
      case 'allocation.deleted':
        return { ...state, allocations: withoutKey(state.allocations, event.data.allocationId) };
      case 'resource_ledger.project_closed':
        return { ...state, closedProjects: [...state.closedProjects, event.data.projectId] };
      case 'resource_ledger.closed':
        return { ...state, quotas: {}, closed: true };
      default:
        return assertNever(event);
    }
  },
};

export const quotaOf = (state: LedgerState, kind: QuotaKind): number =>
  Object.hasOwn(state.quotas, kind.kind) ? state.quotas[kind.kind]! : kind.default;

/** committed + reserved of one kind, over the given allocations. */
export const usageOf = (allocations: Readonly<Record<string, LiveAllocation>>, kind: string): number => {
  let used = 0;
  for (const allocation of Object.values(allocations)) {
    for (const amount of allocation.spec.allocations) if (amount.kind === kind) used += amount.committed + amount.reserved;
  }
  return used;
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
function requireWithinQuotas(state: LedgerState, next: Readonly<Record<string, LiveAllocation>>, kinds: readonly QuotaKind[]): void {
  for (const kind of kinds) {
    const before = usageOf(state.allocations, kind.kind);
    const after = usageOf(next, kind.kind);
    const quota = quotaOf(state, kind);
    if (after > before && after > quota) {
      throw new QuotaExceededError(`quota exceeded for ${kind.kind}: ${after} would be allocated, the quota is ${quota} (${quota - before} free)`);
    }
  }
}

const nameTaken = (state: LedgerState, projectId: string, name: string, except?: string): boolean =>
  Object.entries(state.allocations).some(
    ([id, a]) => id !== except && a.projectId === projectId && a.name.toLowerCase() === name.toLowerCase(),
  );

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
    const used = usageOf(state.allocations, kind);
    if (quantity < used) throw new ConflictError(`the quota for ${kind} cannot be ${quantity}: ${used} is allocated`);
  }
  const changed = command.quotas.filter(({ kind, quantity }) => !Object.hasOwn(state.quotas, kind) || state.quotas[kind] !== quantity);
  if (changed.length === 0) return [];
  return [{ type: 'quotas.updated', data: { organizationId: command.organizationId, quotas: changed.map(({ kind, quantity }) => ({ kind, quantity })) } }];
}

export function createAllocation(
  state: LedgerState,
  command: AllocationRef & AllocationDetails,
  kinds: readonly QuotaKind[],
): ResourceLedgerEvent[] {
  requireOpen(state, command.organizationId);
  if (state.closedProjects.includes(command.projectId)) throw new ConflictError(`project ${command.projectId} is being deleted`);
  if (Object.hasOwn(state.allocations, command.allocationId)) throw new ConflictError(`allocation ${command.allocationId} already exists`);
  if (nameTaken(state, command.projectId, command.name)) throw new ConflictError(`an allocation named "${command.name}" already exists in the project`);
  requireKnownKinds(command.spec.allocations, kinds);
  const created = eventDetails(command);
  const { organizationId: _o, allocationId, ...allocation } = created;
  requireWithinQuotas(state, { ...state.allocations, [allocationId]: allocation }, kinds);
  return [{ type: 'allocation.created', data: created }];
}

/** A closed ledger belongs to an organization on its way out: it takes nothing new. */
const requireOpen = (state: LedgerState, organizationId: string): void => {
  if (state.closed) throw new ConflictError(`organization ${organizationId} is being deleted`);
};

const requireAllocation = (state: LedgerState, command: AllocationRef): LiveAllocation => {
  const allocation = Object.hasOwn(state.allocations, command.allocationId) ? state.allocations[command.allocationId] : undefined;
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
  const { organizationId: _o, allocationId, ...allocation } = updated;
  if (sameDetails(current, allocation)) return [];
  requireWithinQuotas(state, { ...state.allocations, [allocationId]: allocation }, kinds);
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
  if (state.closedProjects.includes(command.projectId)) return [];
  const { organizationId, projectId } = command;
  const released: ResourceLedgerEvent[] = Object.entries(state.allocations)
    .filter(([, allocation]) => allocation.projectId === projectId)
    .map(([allocationId]) => ({ type: 'allocation.deleted', data: { organizationId, projectId, allocationId } }));
  return [...released, { type: 'resource_ledger.project_closed', data: { organizationId, projectId } }];
}

/** Close many projects in one append (the organization's cascade): one write to the shared stream instead of one each. */
export function closeProjects(state: LedgerState, command: { organizationId: string; projectIds: readonly string[] }): ResourceLedgerEvent[] {
  const events: ResourceLedgerEvent[] = [];
  let current = state;
  for (const projectId of new Set(command.projectIds)) {
    for (const event of closeProject(current, { organizationId: command.organizationId, projectId })) {
      events.push(event);
      current = resourceLedgerDecider.evolve(current, event);
    }
  }
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
  const released: ResourceLedgerEvent[] = Object.entries(state.allocations).map(([allocationId, allocation]) => ({
    type: 'allocation.deleted',
    data: { organizationId, projectId: allocation.projectId, allocationId },
  }));
  return [...released, { type: 'resource_ledger.closed', data: { organizationId } }];
}
