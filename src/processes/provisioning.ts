import type { OrganizationCommands } from '../commands/organization/handlers.js';
import type { ProjectCommands } from '../commands/project/handlers.js';
import type { RecordedEvent } from '../ports/event-store.js';
import { causedBy, type ProcessDefinition } from './process-manager.js';

type OrganizationCreated = RecordedEvent<'organization.created', { organizationId: string }>;
type ProjectCreated = RecordedEvent<'project.created', { projectId: string; organizationId: string }>;

/**
 * Organizations and projects are created asynchronously (the API answers 202)
 * and read `provisioning` until this process has seen them and recorded that
 * they are provisioned. Nothing outside the log needs setting up today; when
 * something does (infrastructure for a project), it goes here, before the mark.
 */
export const provisioningProcess = (
  organizations: Pick<OrganizationCommands, 'markProvisioned' | 'recordProvisioningFailure' | 'assignTenantNumber'>,
  projects: Pick<ProjectCommands, 'markProvisioned' | 'recordProvisioningFailure'>,
): ProcessDefinition => ({
  name: 'provisioning',
  handlers: {
    'organization.created': async (event: OrganizationCreated) => {
      // Usually drawn already by the create itself; this makes sure a crash in between leaves none without one.
      await organizations.assignTenantNumber(event.data.organizationId, causedBy(event));
      await organizations.markProvisioned(event.data.organizationId, causedBy(event));
    },
    'project.created': async (event: ProjectCreated) => {
      await projects.markProvisioned(event.data.organizationId, event.data.projectId, causedBy(event));
    },
  },
  onFailure: async (event, reason) => {
    if (event.type === 'organization.created') {
      await organizations.recordProvisioningFailure((event as OrganizationCreated).data.organizationId, reason, causedBy(event));
    } else {
      const { organizationId, projectId } = (event as ProjectCreated).data;
      await projects.recordProvisioningFailure(organizationId, projectId, reason, causedBy(event));
    }
  },
});
