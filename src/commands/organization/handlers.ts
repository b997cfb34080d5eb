import { v4 as uuidv4 } from 'uuid';
import {
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
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { NotFoundError } from '../../domain/shared/errors.js';
import type { EventStore } from '../../ports/event-store.js';
import { handleCommand, loadState } from '../pipeline.js';
import { claimUnique, releaseUnique } from '../reservations.js';

const NAME_SCOPE = 'organization-name';

export class OrganizationCommands {
  constructor(private readonly store: EventStore) {}

  async create(details: OrganizationDetails, meta: CommandMetadata) {
    const organizationId = uuidv4();
    await claimUnique(this.store, { scope: NAME_SCOPE, value: details.name, ownerId: organizationId }, organizationStream, meta);
    return handleCommand(
      this.store,
      organizationStream(organizationId),
      organizationDecider,
      (state) => createOrganization(state, { organizationId, ...details }),
      meta,
    );
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
