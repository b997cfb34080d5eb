import { organizationDecider } from '../../domain/organization/decider.js';
import { organizationStream } from '../../domain/organization/events.js';
import { ConflictError, NotFoundError } from '../../domain/shared/errors.js';
import type { EventStore } from '../../ports/event-store.js';
import { loadState } from '../pipeline.js';

/**
 * Children are created only in an organization that exists and is not being
 * deleted, checked against its stream (the write side), never a read model.
 */
export async function requireActiveOrganization(events: EventStore, organizationId: string): Promise<void> {
  const { state } = await loadState(events, organizationStream(organizationId), organizationDecider);
  switch (state.status) {
    case 'active':
      return;
    case 'deleting':
      throw new ConflictError(`organization ${organizationId} is being deleted`);
    default:
      throw new NotFoundError(`organization ${organizationId} not found`);
  }
}
