import type { ProjectCommands } from '../commands/project/handlers.js';
import type { RecordedEvent } from '../ports/event-store.js';
import type { ReadModelStore } from '../ports/read-models.js';
import { PROJECTS, type ProjectDocument } from '../projections/projects/projection.js';
import { forEachConcurrently } from './concurrency.js';
import { causedBy, type ProcessDefinition } from './process-manager.js';
import type { ReadModelSync } from './read-model-sync.js';

type GroupDeleted = RecordedEvent<'group.deleted', { groupId: string; organizationId: string }>;

const CONCURRENCY = 8;

/**
 * A deleted group comes off every project's groupIDs on the write side too,
 * so that a project's stream never lists a group that is gone (the projects
 * read model drops it at once, for access control). The read model has already
 * forgotten which projects listed it, so every project of the organization is
 * asked, and its own stream decides: only those that list the group change.
 */
export const groupRemovalProcess = (deps: {
  projects: Pick<ProjectCommands, 'removeGroup'>;
  readModels: ReadModelStore;
  sync: ReadModelSync;
}): ProcessDefinition => ({
  name: 'group-removal',
  handlers: {
    'group.deleted': async (event: GroupDeleted, { signal }) => {
      const { groupId, organizationId } = event.data;
      // At the head, not just at the event: a project created meanwhile with the group (its check
      // raced the deletion) is in the read model too.
      await deps.sync.reachHead(signal);
      const projects = await deps.readModels.collection<ProjectDocument>(PROJECTS).find({ 'metadata.organizationId': organizationId });
      const meta = causedBy(event);
      await forEachConcurrently(projects, CONCURRENCY, (project) => deps.projects.removeGroup(organizationId, project._id, groupId, meta), signal);
    },
  },
});
