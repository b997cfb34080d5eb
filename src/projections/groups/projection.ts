import type { GroupEvent } from '../../domain/group/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';
import { createdMetadata, type OrganizationScopedResourceReadMetadata, updatedMetadata } from '../resource-metadata.js';

/**
 * A group as the API reads it (the seed's groupRead), plus the document id.
 * Access control and the commands that find a member's groups read these
 * fields: metadata.organizationId, spec.roleIDs, spec.userIDs, spec.serviceAccountIDs.
 */
export interface GroupDocument extends Document {
  metadata: OrganizationScopedResourceReadMetadata;
  spec: { roleIDs: string[]; userIDs: string[]; serviceAccountIDs: string[] };
}

type Event<T extends GroupEvent['type']> = RecordedEvent<T, Extract<GroupEvent, { type: T }>['data']>;

export const GROUPS = 'groups';

export const groupsProjection = defineProjection<GroupDocument>({
  name: 'groups',
  collection: GROUPS,
  indexes: [{ fields: ['metadata.organizationId'] }, { fields: ['spec.userIDs'] }, { fields: ['spec.serviceAccountIDs'] }, { fields: ['metadata.organizationId', 'metadata.name', '_id'] }, { fields: ['metadata.organizationId', 'spec.userIDs'] }, { fields: ['metadata.organizationId', 'spec.serviceAccountIDs'] }],
  handlers: {
    'group.created': async (event: Event<'group.created'>, docs) => {
      const { groupId, organizationId, roleIDs, userIDs, serviceAccountIDs } = event.data;
      await docs.update(groupId, () => ({
        _id: groupId,
        metadata: { ...createdMetadata(event, groupId), organizationId },
        spec: { roleIDs, userIDs, serviceAccountIDs },
      }));
    },
    'group.updated': async (event: Event<'group.updated'>, docs) => {
      const { groupId, roleIDs, userIDs, serviceAccountIDs } = event.data;
      await docs.update(groupId, (doc) => doc && { ...doc, metadata: updatedMetadata(doc.metadata, event), spec: { roleIDs, userIDs, serviceAccountIDs } });
    },
    'group.deleted': async (event: Event<'group.deleted'>, docs) => {
      await docs.update(event.data.groupId, () => undefined);
    },
  },
});
