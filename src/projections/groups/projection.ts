import type { GroupEvent } from '../../domain/group/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection, type ProjectionDocuments } from '../projection.js';
import { createdMetadata, withModified, type OrganizationScopedResourceReadMetadata, updatedMetadata } from '../resource-metadata.js';

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

type List = keyof GroupDocument['spec'];

/**
 * One member or role joined or left the group: that list of this one
 * document changes (and its modified time), nothing else. Adding one already
 * listed, or removing one that is not, changes nothing.
 */
const member =
  (list: List, change: 'added' | 'removed', idOf: (data: any) => string) =>
  async (event: RecordedEvent<string, { groupId: string }>, docs: ProjectionDocuments<GroupDocument>): Promise<void> => {
    const id = idOf(event.data);
    await docs.update(event.data.groupId, (doc) => {
      if (!doc) return undefined;
      const listed = doc.spec[list].includes(id);
      if (listed === (change === 'added')) return doc;
      const ids = change === 'added' ? [...doc.spec[list], id] : doc.spec[list].filter((other) => other !== id);
      // The members a group is created with come in events of the same command, at its creation time: not a modification.
      const atCreation = event.metadata.occurredAt === doc.metadata.creationTime;
      return { ...doc, metadata: atCreation ? doc.metadata : withModified(doc.metadata, event), spec: { ...doc.spec, [list]: ids } };
    });
  };

export const groupsProjection = defineProjection<GroupDocument>({
  name: 'groups',
  collection: GROUPS,
  indexes: [{ fields: ['metadata.organizationId'] }, { fields: ['spec.userIDs'] }, { fields: ['spec.serviceAccountIDs'] }, { fields: ['metadata.organizationId', 'metadata.name', '_id'] }, { fields: ['metadata.organizationId', 'spec.userIDs'] }, { fields: ['metadata.organizationId', 'spec.serviceAccountIDs'] }],
  handlers: {
    // Its members follow, one event each (or, written by version 1, came with it: `members`).
    'group.created': async (event: Event<'group.created'>, docs) => {
      const { groupId, organizationId, members } = event.data;
      await docs.update(groupId, () => ({
        _id: groupId,
        metadata: { ...createdMetadata(event, groupId), organizationId },
        spec: { roleIDs: members?.roleIDs ?? [], userIDs: members?.userIDs ?? [], serviceAccountIDs: members?.serviceAccountIDs ?? [] },
      }));
    },
    // Its details; the lists only when the event states them whole (version 1).
    'group.updated': async (event: Event<'group.updated'>, docs) => {
      const { groupId, members } = event.data;
      await docs.update(groupId, (doc) => doc && { ...doc, metadata: updatedMetadata(doc.metadata, event), spec: members ? { ...members } : doc.spec });
    },
    'group.deleted': async (event: Event<'group.deleted'>, docs) => {
      await docs.update(event.data.groupId, () => undefined);
    },
    'group.user.added': member('userIDs', 'added', (data) => data.userId),
    'group.user.removed': member('userIDs', 'removed', (data) => data.userId),
    'group.service_account.added': member('serviceAccountIDs', 'added', (data) => data.serviceAccountId),
    'group.service_account.removed': member('serviceAccountIDs', 'removed', (data) => data.serviceAccountId),
    'group.role.added': member('roleIDs', 'added', (data) => data.roleId),
    'group.role.removed': member('roleIDs', 'removed', (data) => data.roleId),
  },
});
