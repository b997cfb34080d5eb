import type { ProjectEvent } from '../../domain/project/events.js';
import type { HealthStatus, ProvisioningStatus, Tag } from '../../domain/shared/resource.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';

/**
 * A project as the API reads it (the seed's projectRead), plus the document id.
 * Access control relies on `metadata.organizationId` and `spec.groupIDs`.
 */
export interface ProjectDocument extends Document {
  metadata: {
    id: string;
    name: string;
    description?: string;
    tags?: Tag[];
    creationTime: string;
    createdBy: string;
    modifiedTime?: string;
    modifiedBy?: string;
    deletionTime?: string;
    provisioningStatus: ProvisioningStatus;
    healthStatus: HealthStatus;
    organizationId: string;
  };
  spec: { groupIDs: string[] };
}

type Event<T extends ProjectEvent['type']> = RecordedEvent<T, Extract<ProjectEvent, { type: T }>['data']>;
/** Events of other aggregates this read model follows; only the fields used here. */
type GroupDeleted = RecordedEvent<'group.deleted', { groupId: string; organizationId: string }>;
type OrganizationDeleted = RecordedEvent<'organization.deleted', { organizationId: string }>;

export const PROJECTS = 'projects';

export const projectsProjection = defineProjection<ProjectDocument>({
  name: 'projects',
  collection: PROJECTS,
  indexes: [{ fields: ['metadata.organizationId'] }, { fields: ['spec.groupIDs'] }],
  handlers: {
    'project.created': async (event: Event<'project.created'>, docs) => {
      const { projectId, organizationId, name, description, tags, groupIDs } = event.data;
      await docs.update(projectId, () => ({
        _id: projectId,
        metadata: {
          id: projectId,
          name,
          ...(description !== undefined && { description }),
          tags,
          creationTime: event.metadata.occurredAt,
          createdBy: event.metadata.actor.subject,
          provisioningStatus: 'provisioned',
          healthStatus: 'healthy',
          organizationId,
        },
        spec: { groupIDs },
      }));
    },
    'project.updated': async (event: Event<'project.updated'>, docs) => {
      const { projectId, name, description, tags, groupIDs } = event.data;
      await docs.update(projectId, (doc) => {
        if (!doc) return undefined;
        const { description: _old, ...metadata } = doc.metadata;
        return {
          ...doc,
          metadata: {
            ...metadata,
            name,
            ...(description !== undefined && { description }),
            tags,
            modifiedTime: event.metadata.occurredAt,
            modifiedBy: event.metadata.actor.subject,
          },
          spec: { groupIDs },
        };
      });
    },
    'project.deletion_requested': async (event: Event<'project.deletion_requested'>, docs) => {
      await docs.update(event.data.projectId, (doc) =>
        doc && { ...doc, metadata: { ...doc.metadata, deletionTime: event.metadata.occurredAt, provisioningStatus: 'deprovisioning' } },
      );
    },
    'project.deleted': async (event: Event<'project.deleted'>, docs) => {
      await docs.update(event.data.projectId, () => undefined);
    },
    // A deleted group grants nothing any more: take it off every project that listed it.
    'group.deleted': async (event: GroupDeleted, docs) => {
      const { groupId, organizationId } = event.data;
      await docs.updateWhere({ 'metadata.organizationId': organizationId, 'spec.groupIDs': groupId }, (doc) => ({
        ...doc,
        spec: { ...doc.spec, groupIDs: doc.spec.groupIDs.filter((id) => id !== groupId) },
      }));
    },
    'organization.deleted': async (event: OrganizationDeleted, docs) => {
      await docs.updateWhere({ 'metadata.organizationId': event.data.organizationId }, () => undefined);
    },
  },
});
