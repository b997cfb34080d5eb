import { ERASED } from '../domain/personal-data/map.js';
import type { HealthStatus, ProvisioningStatus, Tag } from '../domain/shared/resource.js';
import type { RecordedEvent } from '../ports/event-store.js';
import type { Document, ReadModelStore } from '../ports/read-models.js';

/** The metadata every resource's document carries (the seed's resourceReadMetadata). */
export interface ResourceReadMetadata {
  id: string;
  name: string;
  description?: string;
  tags?: Tag[];
  creationTime: string;
  createdBy: string;
  /** The user id behind createdBy when a user acted: its name is blanked when that user is erased (never in responses). */
  createdById?: string;
  modifiedTime?: string;
  modifiedBy?: string;
  /** The user id behind modifiedBy, as createdById. */
  modifiedById?: string;
  deletionTime?: string;
  provisioningStatus: ProvisioningStatus;
  healthStatus: HealthStatus;
}

/** The seed's organizationScopedResourceReadMetadata. */
export interface OrganizationScopedResourceReadMetadata extends ResourceReadMetadata {
  organizationId: string;
}

/** The seed's projectScopedResourceReadMetadata. */
export interface ProjectScopedResourceReadMetadata extends OrganizationScopedResourceReadMetadata {
  projectId: string;
}

/** What every created and updated event says about the resource itself. */
type DetailsEvent = RecordedEvent<string, { name: string; description?: string | undefined; tags: Tag[] }>;

/** The user behind an event's actor (a person whose name may be erased), if a user acted. */
const userActorId = (event: RecordedEvent): string | undefined => {
  const { actor } = event.metadata;
  return actor.kind === 'user' && typeof actor.id === 'string' && actor.id.length > 0 ? actor.id : undefined;
};

/** Who changed it and when: the event's actor and time. */
export const modified = (event: RecordedEvent) => ({ modifiedTime: event.metadata.occurredAt, modifiedBy: event.metadata.actor.subject });

/**
 * The metadata after a change: who and when (`modified`), and the user id
 * behind modifiedBy when a user acted (kept so that erasing the user blanks the
 * name: forgetActorNames); an earlier modifier's id does not stay behind.
 */
export const withModified = <M extends { modifiedById?: string }>(metadata: M, event: RecordedEvent): M & ReturnType<typeof modified> => {
  const { modifiedById: _previous, ...rest } = metadata;
  const id = userActorId(event);
  return { ...rest, ...modified(event), ...(id !== undefined && { modifiedById: id }) } as M & ReturnType<typeof modified>;
};

/**
 * The metadata of a resource its created event brings into being; the caller
 * adds the scope (organizationId, projectId) after it.
 */
export const createdMetadata = (event: DetailsEvent, id: string, provisioningStatus: ProvisioningStatus = 'provisioned') => {
  const { name, description, tags } = event.data;
  return {
    id,
    name,
    ...(description !== undefined && { description }),
    tags,
    creationTime: event.metadata.occurredAt,
    createdBy: event.metadata.actor.subject,
    ...(userActorId(event) !== undefined && { createdById: userActorId(event) }),
    provisioningStatus,
    healthStatus: 'healthy' as const,
  };
};

/** The metadata after an updated event: an update states the whole of it, so a description it leaves out is gone. */
export const updatedMetadata = <M extends ResourceReadMetadata>(previous: M, event: DetailsEvent): M => {
  const { description: _old, ...metadata } = previous;
  const { name, description, tags } = event.data;
  return withModified({ ...metadata, name, ...(description !== undefined && { description }), tags }, event) as unknown as M;
};

/** Deletion asked for: a request after a failed deletion starts it again (deprovisioning, healthy), keeping the first deletion time. */
export const deletionRequestedMetadata = <M extends ResourceReadMetadata>(previous: M, event: RecordedEvent): M => ({
  ...previous,
  deletionTime: previous.deletionTime ?? event.metadata.occurredAt,
  provisioningStatus: 'deprovisioning',
  healthStatus: 'healthy',
});

/** Move the status on, but only from the one it is expected to be in: a late event must not undo a deletion. */
export const withStatus = <D extends { metadata: ResourceReadMetadata }>(
  doc: D,
  provisioningStatus: ProvisioningStatus,
  healthStatus: HealthStatus,
  from: ProvisioningStatus,
): D => (doc.metadata.provisioningStatus === from ? { ...doc, metadata: { ...doc.metadata, provisioningStatus, healthStatus } } : doc);

/**
 * An erased user's name out of the read models (docs/crypto-shredding.md):
 * every document of these collections that the user created or last changed
 * reads `[erased]` as its createdBy / modifiedBy from now on, as a rebuild
 * would show it. The ids stay (they name no one). Idempotent; answers how many
 * documents changed.
 */
export async function forgetActorNames(readModels: ReadModelStore, collections: readonly string[], personId: string): Promise<number> {
  let changed = 0;
  for (const name of new Set(collections)) {
    const collection = readModels.collection<Document & { metadata?: ResourceReadMetadata }>(name);
    const found = new Map<string, Document & { metadata?: ResourceReadMetadata }>();
    for (const field of ['metadata.createdById', 'metadata.modifiedById']) for (const doc of await collection.find({ [field]: personId })) found.set(doc._id, doc);
    for (const doc of found.values()) {
      const metadata = doc.metadata!;
      const blanked = {
        ...metadata,
        ...(metadata.createdById === personId && { createdBy: ERASED }),
        ...(metadata.modifiedById === personId && metadata.modifiedBy !== undefined && { modifiedBy: ERASED }),
      };
      if (blanked.createdBy === metadata.createdBy && blanked.modifiedBy === metadata.modifiedBy) continue;
      await collection.put({ ...doc, metadata: blanked });
      changed += 1;
    }
  }
  return changed;
}
