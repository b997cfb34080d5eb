import type { ProjectEvent } from '../../domain/project/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';
import { createdMetadata, deletionRequestedMetadata, type OrganizationScopedResourceReadMetadata, updatedMetadata, withStatus } from '../resource-metadata.js';

/**
 * A project as the API reads it (the seed's projectRead), plus the document id.
 * Access control relies on `metadata.organizationId` and `spec.groupIDs`.
 */
export interface ProjectDocument extends Document {
  metadata: OrganizationScopedResourceReadMetadata;
  spec: { groupIDs: string[] };
}

type Event<T extends ProjectEvent['type']> = RecordedEvent<T, Extract<ProjectEvent, { type: T }>['data']>;
/** Events of other aggregates this read model follows; only the fields used here. */
type GroupDeleted = RecordedEvent<'group.deleted', { groupId: string; organizationId: string }>;

export const PROJECTS = 'projects';

const withoutGroup = (doc: ProjectDocument, groupId: string): ProjectDocument => ({
  ...doc,
  spec: { ...doc.spec, groupIDs: doc.spec.groupIDs.filter((id) => id !== groupId) },
});

export const projectsProjection = defineProjection<ProjectDocument>({
  name: 'projects',
  collection: PROJECTS,
  indexes: [{ fields: ['metadata.organizationId'] }, { fields: ['spec.groupIDs'] }, { fields: ['metadata.organizationId', 'metadata.name', '_id'] }],
  handlers: {
    'project.created': async (event: Event<'project.created'>, docs) => {
      const { projectId, organizationId, groupIDs } = event.data;
      await docs.update(projectId, () => ({
        _id: projectId,
        // Provisioned only once the provisioning process has seen it (project.provisioned).
        metadata: { ...createdMetadata(event, projectId, 'provisioning'), organizationId },
        spec: { groupIDs },
      }));
    },
    'project.updated': async (event: Event<'project.updated'>, docs) => {
      const { projectId, groupIDs } = event.data;
      await docs.update(projectId, (doc) => doc && { ...doc, metadata: updatedMetadata(doc.metadata, event), spec: { groupIDs } });
    },
    'project.provisioned': async (event: Event<'project.provisioned'>, docs) => {
      await docs.update(event.data.projectId, (doc) => doc && withStatus(doc, 'provisioned', 'healthy', 'provisioning'));
    },
    'project.provisioning_failed': async (event: Event<'project.provisioning_failed'>, docs) => {
      await docs.update(event.data.projectId, (doc) => doc && withStatus(doc, 'error', 'error', 'provisioning'));
    },
    'project.group_removed': async (event: Event<'project.group_removed'>, docs) => {
      await docs.update(event.data.projectId, (doc) => doc && withoutGroup(doc, event.data.groupId));
    },
    'project.deletion_requested': async (event: Event<'project.deletion_requested'>, docs) => {
      await docs.update(event.data.projectId, (doc) => doc && { ...doc, metadata: deletionRequestedMetadata(doc.metadata, event) });
    },
    'project.deletion_failed': async (event: Event<'project.deletion_failed'>, docs) => {
      await docs.update(event.data.projectId, (doc) => doc && withStatus(doc, 'error', 'error', 'deprovisioning'));
    },
    'project.deleted': async (event: Event<'project.deleted'>, docs) => {
      await docs.update(event.data.projectId, () => undefined);
    },
    // A deleted group grants nothing any more: off every project that listed it at once, for access
    // control; the group-removal process then records the same on each project's stream (project.group_removed).
    'group.deleted': async (event: GroupDeleted, docs) => {
      const { groupId, organizationId } = event.data;
      await docs.updateWhere({ 'metadata.organizationId': organizationId, 'spec.groupIDs': groupId }, (doc) => withoutGroup(doc, groupId));
    },
  },
});
