import type { OrganizationCommands } from '../commands/organization/handlers.js';
import type { CommandMetadata } from '../domain/shared/decider.js';
import type { RecordedEvent } from '../ports/event-store.js';
import type { ProcessDefinition } from './process-manager.js';

/** The metadata of a command a process runs because of an event. */
export const causedBy = (event: RecordedEvent, now = new Date()): CommandMetadata => ({
  now,
  actor: { subject: 'system', kind: 'system' },
  correlationId: event.metadata.correlationId,
  causationId: event.metadata.eventId,
});

/**
 * Finishes an organization's deletion once it has been requested. The cascade
 * over its children comes with them; the last step frees the name.
 */
export const organizationDeletionProcess = (commands: OrganizationCommands): ProcessDefinition => ({
  name: 'organization-deletion',
  handlers: {
    'organization.deletion_requested': async (event: RecordedEvent<string, { organizationId: string }>) => {
      await commands.completeDeletion(event.data.organizationId, causedBy(event));
    },
  },
});
