import type { HealthStatus, ProvisioningStatus, Tag } from '../domain/shared/resource.js';
import type { RecordedEvent } from '../ports/event-store.js';

/** The metadata every resource's document carries (the seed's resourceReadMetadata). */
export interface ResourceReadMetadata {
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

/** Who changed it and when: the event's actor and time. */
export const modified = (event: RecordedEvent) => ({ modifiedTime: event.metadata.occurredAt, modifiedBy: event.metadata.actor.subject });

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
    provisioningStatus,
    healthStatus: 'healthy' as const,
  };
};

/** The metadata after an updated event: an update states the whole of it, so a description it leaves out is gone. */
export const updatedMetadata = <M extends ResourceReadMetadata>(previous: M, event: DetailsEvent): M => {
  const { description: _old, ...metadata } = previous;
  const { name, description, tags } = event.data;
  return { ...metadata, name, ...(description !== undefined && { description }), tags, ...modified(event) } as M;
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
