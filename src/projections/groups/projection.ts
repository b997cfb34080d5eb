import type { GroupEvent } from '../../domain/group/events.js';
import type { HealthStatus, ProvisioningStatus, Tag } from '../../domain/shared/resource.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';

/**
 * A group as the API reads it (the seed's groupRead), plus the document id.
 * Access control and the commands that find a member's groups read these
 * fields: metadata.organizationId, spec.roleIDs, spec.userIDs, spec.serviceAccountIDs.
 */
export interface GroupDocument extends Document {
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
  spec: { roleIDs: string[]; userIDs: string[]; serviceAccountIDs: string[] };
}

type Event<T extends GroupEvent['type']> = RecordedEvent<T, Extract<GroupEvent, { type: T }>['data']>;

export const GROUPS = 'groups';

export const groupsProjection = defineProjection<GroupDocument>({
  name: 'groups',
  collection: GROUPS,
  indexes: [{ fields: ['metadata.organizationId'] }, { fields: ['spec.userIDs'] }, { fields: ['spec.serviceAccountIDs'] }],
  handlers: {
    'group.created': async (event: Event<'group.created'>, docs) => {
      const { groupId, organizationId, name, description, tags, roleIDs, userIDs, serviceAccountIDs } = event.data;
      await docs.update(groupId, () => ({
        _id: groupId,
        metadata: {
          id: groupId,
          name,
          ...(description !== undefined && { description }),
          tags,
          creationTime: event.metadata.occurredAt,
          createdBy: event.metadata.actor.subject,
          provisioningStatus: 'provisioned',
          healthStatus: 'healthy',
          organizationId,
        },
        spec: { roleIDs, userIDs, serviceAccountIDs },
      }));
    },
    'group.updated': async (event: Event<'group.updated'>, docs) => {
      const { groupId, name, description, tags, roleIDs, userIDs, serviceAccountIDs } = event.data;
      await docs.update(groupId, (doc) => {
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
          spec: { roleIDs, userIDs, serviceAccountIDs },
        };
      });
    },
    'group.deleted': async (event: Event<'group.deleted'>, docs) => {
      await docs.update(event.data.groupId, () => undefined);
    },
  },
});
