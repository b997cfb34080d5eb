import { v4 as uuidv4 } from 'uuid';
import {
  assignTenantNumber,
  changePasswordPolicy,
  completeOrganizationDeletion,
  createOrganization,
  markOrganizationProvisioned,
  organizationDecider,
  type OrganizationDetails,
  type OrganizationState,
  recordOrganizationDeletionFailure,
  recordOrganizationProvisioningFailure,
  requestOrganizationDeletion,
  updateOrganization,
} from '../../domain/organization/decider.js';
import { organizationStream } from '../../domain/organization/events.js';
import type { PasswordPolicy } from '../../domain/credentials/password-policy.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { NotFoundError } from '../../domain/shared/errors.js';
import type { EventStore } from '../../ports/event-store.js';
import { drawTenantNumber, TENANT_NUMBERS_STREAM, tenantNumberOf, tenantNumbersDecider } from '../../domain/tenancy/decider.js';
import { handleCommand, loadState } from '../pipeline.js';
import { claimUnique, releaseUnique } from '../reservations.js';

const NAME_SCOPE = 'organization-name';

export class OrganizationCommands {
  constructor(private readonly store: EventStore) {}

  async create(details: OrganizationDetails, meta: CommandMetadata) {
    const organizationId = uuidv4();
    await claimUnique(this.store, { scope: NAME_SCOPE, value: details.name, ownerId: organizationId }, organizationStream, meta);
    const created = await handleCommand(
      this.store,
      organizationStream(organizationId),
      organizationDecider,
      (state) => createOrganization(state, { organizationId, ...details }),
      meta,
    );
    // Its tenant number comes with it; the provisioning process draws it again if this step was cut short.
    const numbered = await this.assignTenantNumber(organizationId, meta);
    return numbered.position === undefined ? created : { ...numbered, newEvents: [...created.newEvents, ...numbered.newEvents] };
  }

  /**
   * Give the organization its tenant number, if it has none yet: draw the next
   * one from the counter (at its expected revision; a retried draw for the
   * same organization gets the same number), then record it on the
   * organization. Organizations created before tenant numbers existed get
   * theirs the first time someone asks (src/api/compat/tenancy.ts).
   */
  async assignTenantNumber(organizationId: string, meta: CommandMetadata) {
    const stream = organizationStream(organizationId);
    const { state: before } = await loadState(this.store, stream, organizationDecider);
    if (before.status === 'absent') throw new NotFoundError(`organization ${organizationId} not found`);
    // A deleted organization keeps no number (nor draws one): it is gone.
    if (before.status === 'deleted' || before.tenantId !== undefined) return { state: before, newEvents: [], position: undefined };
    // One counter that every new organization draws from: under a burst of creations it needs more retries than a stream of one writer.
    const drawn = await handleCommand(this.store, TENANT_NUMBERS_STREAM, tenantNumbersDecider, (state) => drawTenantNumber(state, { organizationId }), meta, {
      maxAttempts: 32,
    });
    const tenantId = tenantNumberOf(drawn.state, organizationId)!;
    return handleCommand(this.store, stream, organizationDecider, (state) => assignTenantNumber(state, { organizationId, tenantId }), meta);
  }

  async update(organizationId: string, details: OrganizationDetails, meta: CommandMetadata) {
    const stream = organizationStream(organizationId);
    const { state: before } = await loadState(this.store, stream, organizationDecider);
    if (before.status === 'absent' || before.status === 'deleted') throw new NotFoundError(`organization ${organizationId} not found`);
    const renamed = before.name.toLowerCase() !== details.name.toLowerCase();
    if (renamed) await claimUnique(this.store, { scope: NAME_SCOPE, value: details.name, ownerId: organizationId }, organizationStream, meta);
    try {
      const result = await handleCommand(this.store, stream, organizationDecider, (state) => updateOrganization(state, { organizationId, ...details }), meta);
      if (renamed) await releaseUnique(this.store, { scope: NAME_SCOPE, value: before.name, ownerId: organizationId }, meta);
      return result;
    } catch (error) {
      if (renamed) await releaseUnique(this.store, { scope: NAME_SCOPE, value: details.name, ownerId: organizationId }, meta);
      throw error;
    }
  }

  /** Set the organization's password policy (docs/password-policy.md). */
  changePasswordPolicy(organizationId: string, policy: PasswordPolicy, meta: CommandMetadata) {
    return handleCommand(this.store, organizationStream(organizationId), organizationDecider, (state) => changePasswordPolicy(state, { organizationId, policy }), meta);
  }

  /** The organization as the write side has it. */
  async state(organizationId: string): Promise<OrganizationState> {
    return (await loadState(this.store, organizationStream(organizationId), organizationDecider)).state;
  }

  private decide(organizationId: string, decide: (state: OrganizationState) => ReturnType<typeof markOrganizationProvisioned>, meta: CommandMetadata) {
    return handleCommand(this.store, organizationStream(organizationId), organizationDecider, decide, meta);
  }

  markProvisioned(organizationId: string, meta: CommandMetadata) {
    return this.decide(organizationId, (state) => markOrganizationProvisioned(state, { organizationId }), meta);
  }

  recordProvisioningFailure(organizationId: string, reason: string, meta: CommandMetadata) {
    return this.decide(organizationId, (state) => recordOrganizationProvisioningFailure(state, { organizationId, reason }), meta);
  }

  recordDeletionFailure(organizationId: string, reason: string, meta: CommandMetadata) {
    return this.decide(organizationId, (state) => recordOrganizationDeletionFailure(state, { organizationId, reason }), meta);
  }

  requestDeletion(organizationId: string, meta: CommandMetadata) {
    return handleCommand(
      this.store,
      organizationStream(organizationId),
      organizationDecider,
      (state) => requestOrganizationDeletion(state, { organizationId }),
      meta,
    );
  }

  /** The last step of a deletion: the organization is gone and its name free again. */
  async completeDeletion(organizationId: string, meta: CommandMetadata) {
    const result = await handleCommand(
      this.store,
      organizationStream(organizationId),
      organizationDecider,
      (state) => completeOrganizationDeletion(state, { organizationId }),
      meta,
    );
    if (result.state.status === 'deleted') {
      await releaseUnique(this.store, { scope: NAME_SCOPE, value: result.state.name, ownerId: organizationId }, meta);
    }
    return result;
  }
}
