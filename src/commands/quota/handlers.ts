import { v4 as uuidv4 } from 'uuid';
import {
  type AllocationDetails,
  closeLedger,
  closeProject,
  closeProjects,
  createAllocation,
  deleteAllocation,
  type LedgerState,
  type QuotaKind,
  resourceLedgerDecider,
  setQuotas,
  updateAllocation,
} from '../../domain/resource-ledger/decider.js';
import { type QuotaQuantity, type ResourceLedgerEvent, resourceLedgerStream } from '../../domain/resource-ledger/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import type { EventStore } from '../../ports/event-store.js';
import { requireActiveOrganization } from '../organization/guards.js';
import { handleCommand } from '../pipeline.js';
import type { StreamStates } from '../stream-states.js';
import { requireActiveProject } from '../project/guards.js';

/**
 * Every allocation and quota change of an organization meets on its one
 * ledger stream. Each lost race means another writer's change landed, so a
 * burst of N writers needs at most N attempts: allow plenty before a 409.
 */
const LEDGER_MAX_ATTEMPTS = 100;

export class ResourceLedgerCommands {
  constructor(
    private readonly store: EventStore,
    /** The quota catalogue (configuration's QUOTA_DEFAULTS). */
    readonly kinds: readonly QuotaKind[],
    /** Cached states and snapshots of the ledgers, which live as long as their organizations. */
    private readonly states?: StreamStates,
  ) {}

  private decide(organizationId: string, decide: (state: LedgerState) => ResourceLedgerEvent[], meta: CommandMetadata) {
    return handleCommand(this.store, resourceLedgerStream(organizationId), resourceLedgerDecider, decide, meta, {
      maxAttempts: LEDGER_MAX_ATTEMPTS,
      ...(this.states && { states: this.states }),
    });
  }

  async setQuotas(organizationId: string, quotas: readonly QuotaQuantity[], meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    return this.decide(organizationId, (state) => setQuotas(state, { organizationId, quotas }, this.kinds), meta);
  }

  async createAllocation(organizationId: string, projectId: string, details: AllocationDetails, meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    await requireActiveProject(this.store, organizationId, projectId);
    const allocationId = uuidv4();
    const result = await this.decide(
      organizationId,
      (state) => createAllocation(state, { organizationId, projectId, allocationId, ...details }, this.kinds),
      meta,
    );
    return { ...result, allocationId };
  }

  async updateAllocation(organizationId: string, projectId: string, allocationId: string, details: AllocationDetails, meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    await requireActiveProject(this.store, organizationId, projectId);
    return this.decide(
      organizationId,
      (state) => updateAllocation(state, { organizationId, projectId, allocationId, ...details }, this.kinds),
      meta,
    );
  }

  /** Deleting only frees quota, so it is allowed while the project or organization is being deleted. */
  deleteAllocation(organizationId: string, projectId: string, allocationId: string, meta: CommandMetadata) {
    return this.decide(organizationId, (state) => deleteAllocation(state, { organizationId, projectId, allocationId }), meta);
  }

  /** For a project being deleted: release its allocations and refuse new ones. */
  closeProject(organizationId: string, projectId: string, meta: CommandMetadata) {
    return this.decide(organizationId, (state) => closeProject(state, { organizationId, projectId }), meta);
  }

  /** The same for many projects at once (an organization's cascade): one append to the shared stream. */
  closeProjects(organizationId: string, projectIds: readonly string[], meta: CommandMetadata) {
    return this.decide(organizationId, (state) => closeProjects(state, { organizationId, projectIds }), meta);
  }

  /** For an organization being deleted: release what is left, drop its quotas, take nothing more. */
  close(organizationId: string, meta: CommandMetadata) {
    return this.decide(organizationId, (state) => closeLedger(state, { organizationId }), meta);
  }
}
