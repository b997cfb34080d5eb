import type { ProjectCommands } from '../commands/project/handlers.js';
import type { ResourceLedgerCommands } from '../commands/quota/handlers.js';
import { isProjectDeletionPending } from '../domain/project/decider.js';
import type { RecordedEvent } from '../ports/event-store.js';
import { causedBy, type ProcessDefinition } from './process-manager.js';

type ProjectEvent = RecordedEvent<string, { projectId: string; organizationId: string }>;

/**
 * Finishes a project's deletion once it has been requested: first its
 * allocations go (freeing the organization's quota, and closing the project
 * to new ones), then the project itself, which frees its name. Both steps are
 * idempotent, so a replay after a crash changes nothing. A step that fails for
 * good ends in project.deletion_failed (status error); a new DELETE starts it again.
 */
export const projectDeletionProcess = (
  projects: Pick<ProjectCommands, 'state' | 'completeDeletion' | 'recordDeletionFailure'>,
  ledger: Pick<ResourceLedgerCommands, 'closeProject'>,
): ProcessDefinition => ({
  name: 'project-deletion',
  handlers: {
    'project.deletion_requested': async (event: ProjectEvent) => {
      const { projectId, organizationId } = event.data;
      // Done already (perhaps by its organization's cascade), or failed and waiting for a new request.
      if (!isProjectDeletionPending(await projects.state(projectId))) return;
      const meta = causedBy(event);
      await ledger.closeProject(organizationId, projectId, meta);
      await projects.completeDeletion(organizationId, projectId, meta);
    },
  },
  onFailure: async (event: ProjectEvent, reason) => {
    await projects.recordDeletionFailure(event.data.organizationId, event.data.projectId, reason, causedBy(event));
  },
});
