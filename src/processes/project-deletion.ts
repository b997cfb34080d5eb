import type { ProjectCommands } from '../commands/project/handlers.js';
import type { ResourceLedgerCommands } from '../commands/quota/handlers.js';
import type { RecordedEvent } from '../ports/event-store.js';
import { causedBy } from './organization-deletion.js';
import type { ProcessDefinition } from './process-manager.js';

/**
 * Finishes a project's deletion once it has been requested: first its
 * allocations go (freeing the organization's quota, and closing the project
 * to new ones), then the project itself, which frees its name. Both steps are
 * idempotent, so a replay after a crash changes nothing.
 */
export const projectDeletionProcess = (projects: ProjectCommands, ledger: ResourceLedgerCommands): ProcessDefinition => ({
  name: 'project-deletion',
  handlers: {
    'project.deletion_requested': async (event: RecordedEvent<string, { projectId: string; organizationId: string }>) => {
      const { projectId, organizationId } = event.data;
      const meta = causedBy(event);
      await ledger.closeProject(organizationId, projectId, meta);
      await projects.completeDeletion(organizationId, projectId, meta);
    },
  },
});
