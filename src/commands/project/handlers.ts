import { v4 as uuidv4 } from 'uuid';
import {
  completeProjectDeletion,
  createProject,
  markProjectProvisioned,
  projectDecider,
  type ProjectDetails,
  type ProjectState,
  recordProjectDeletionFailure,
  recordProjectProvisioningFailure,
  removeProjectGroup,
  requestProjectDeletion,
  updateProject,
} from '../../domain/project/decider.js';
import type { ProjectEvent } from '../../domain/project/events.js';
import { projectStream } from '../../domain/project/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { NotFoundError } from '../../domain/shared/errors.js';
import type { EventStore } from '../../ports/event-store.js';
import { requireActiveOrganization } from '../organization/guards.js';
import { handleCommand, loadState } from '../pipeline.js';
import { claimUnique, releaseUnique } from '../reservations.js';
import { requireGroupsInOrganization } from './guards.js';

/** Project names are unique within their organization. */
const nameScope = (organizationId: string): string => `project-name-${organizationId}`;

const distinct = (ids: readonly string[]): string[] => [...new Set(ids)];

export class ProjectCommands {
  constructor(private readonly store: EventStore) {}

  async create(organizationId: string, details: ProjectDetails, meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    const groupIDs = distinct(details.groupIDs);
    await requireGroupsInOrganization(this.store, organizationId, groupIDs);
    const projectId = uuidv4();
    await claimUnique(this.store, { scope: nameScope(organizationId), value: details.name, ownerId: projectId }, projectStream, meta);
    try {
      return await handleCommand(
        this.store,
        projectStream(projectId),
        projectDecider,
        (state) => createProject(state, { projectId, organizationId, ...details, groupIDs }),
        meta,
      );
    } catch (error) {
      await releaseUnique(this.store, { scope: nameScope(organizationId), value: details.name, ownerId: projectId }, meta);
      throw error;
    }
  }

  async update(organizationId: string, projectId: string, details: ProjectDetails, meta: CommandMetadata) {
    const stream = projectStream(projectId);
    const { state: before } = await loadState(this.store, stream, projectDecider);
    if ((before.status !== 'active' && before.status !== 'deleting') || before.organizationId !== organizationId) {
      throw new NotFoundError(`project ${projectId} not found`);
    }
    const groupIDs = distinct(details.groupIDs);
    await requireGroupsInOrganization(this.store, organizationId, groupIDs);
    const scope = nameScope(organizationId);
    const renamed = before.name.toLowerCase() !== details.name.toLowerCase();
    if (renamed) await claimUnique(this.store, { scope, value: details.name, ownerId: projectId }, projectStream, meta);
    try {
      const result = await handleCommand(
        this.store,
        stream,
        projectDecider,
        (state) => updateProject(state, { projectId, organizationId, ...details, groupIDs }),
        meta,
      );
      if (renamed) await releaseUnique(this.store, { scope, value: before.name, ownerId: projectId }, meta);
      return result;
    } catch (error) {
      if (renamed) await releaseUnique(this.store, { scope, value: details.name, ownerId: projectId }, meta);
      throw error;
    }
  }

  /** The project as the write side has it. */
  async state(projectId: string): Promise<ProjectState> {
    return (await loadState(this.store, projectStream(projectId), projectDecider)).state;
  }

  private decide(projectId: string, decide: (state: ProjectState) => ProjectEvent[], meta: CommandMetadata) {
    return handleCommand(this.store, projectStream(projectId), projectDecider, decide, meta);
  }

  markProvisioned(organizationId: string, projectId: string, meta: CommandMetadata) {
    return this.decide(projectId, (state) => markProjectProvisioned(state, { projectId, organizationId }), meta);
  }

  recordProvisioningFailure(organizationId: string, projectId: string, reason: string, meta: CommandMetadata) {
    return this.decide(projectId, (state) => recordProjectProvisioningFailure(state, { projectId, organizationId, reason }), meta);
  }

  /** Take a deleted group off the project, if its stream still lists it. */
  removeGroup(organizationId: string, projectId: string, groupId: string, meta: CommandMetadata) {
    return this.decide(projectId, (state) => removeProjectGroup(state, { projectId, organizationId, groupId }), meta);
  }

  recordDeletionFailure(organizationId: string, projectId: string, reason: string, meta: CommandMetadata) {
    return this.decide(projectId, (state) => recordProjectDeletionFailure(state, { projectId, organizationId, reason }), meta);
  }

  requestDeletion(organizationId: string, projectId: string, meta: CommandMetadata) {
    return handleCommand(this.store, projectStream(projectId), projectDecider, (state) => requestProjectDeletion(state, { projectId, organizationId }), meta);
  }

  /** The last step of a deletion, once its allocations are released: the project is gone and its name free again. */
  async completeDeletion(organizationId: string, projectId: string, meta: CommandMetadata) {
    const result = await handleCommand(
      this.store,
      projectStream(projectId),
      projectDecider,
      (state) => completeProjectDeletion(state, { projectId, organizationId }),
      meta,
    );
    if (result.state.status === 'deleted') {
      await releaseUnique(this.store, { scope: nameScope(organizationId), value: result.state.name, ownerId: projectId }, meta);
    }
    return result;
  }
}
