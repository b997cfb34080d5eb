import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  completeProjectDeletion,
  createProject,
  isProjectDeletionPending,
  markProjectProvisioned,
  projectDecider,
  recordProjectDeletionFailure,
  recordProjectProvisioningFailure,
  removeProjectGroup,
  requestProjectDeletion,
  updateProject,
} from '../../src/domain/project/decider.js';
import type { ProjectEvent } from '../../src/domain/project/events.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(projectDecider);
const ref = { projectId: 'p-1', organizationId: 'org-1' };
const details = { name: 'web', description: 'the website', tags: [{ name: 'team', value: 'blue' }], groupIDs: ['g-1'] };
const created: ProjectEvent = { type: 'project.created', data: { ...ref, ...details } };
const deletionRequested: ProjectEvent = { type: 'project.deletion_requested', data: ref };
const deleted: ProjectEvent = { type: 'project.deleted', data: { ...ref, name: 'web' } };
const provisioned: ProjectEvent = { type: 'project.provisioned', data: ref };
const groupRemoved: ProjectEvent = { type: 'project.group_removed', data: { ...ref, groupId: 'g-1' } };
const deletionFailed: ProjectEvent = { type: 'project.deletion_failed', data: { ...ref, reason: 'ConflictError: busy' } };

describe('project decider', () => {
  test('creates a project once', () => {
    given([]).when((s) => createProject(s, { ...ref, ...details })).then([created]);
    given([created]).when((s) => createProject(s, { ...ref, ...details })).thenThrows(ConflictError);
  });

  test('updates an active project, and records nothing when nothing changed', () => {
    const changed = { ...details, description: undefined, groupIDs: [] };
    given([created])
      .when((s) => updateProject(s, { ...ref, ...changed }))
      .then([{ type: 'project.updated', data: { ...ref, name: 'web', tags: details.tags, groupIDs: [] } }]);
    given([created]).when((s) => updateProject(s, { ...ref, ...details })).then([]);
  });

  test('a project of another organization is not found', () => {
    const foreign = { ...ref, organizationId: 'org-2' };
    given([created]).when((s) => updateProject(s, { ...foreign, ...details })).thenThrows(NotFoundError);
    given([created]).when((s) => requestProjectDeletion(s, foreign)).thenThrows(NotFoundError);
  });

  test('a project being deleted cannot be changed; a deleted one is gone', () => {
    given([created, deletionRequested]).when((s) => updateProject(s, { ...ref, ...details })).thenThrows(ConflictError, /being deleted/);
    given([created, deletionRequested, deleted]).when((s) => updateProject(s, { ...ref, ...details })).thenThrows(NotFoundError);
    given([]).when((s) => requestProjectDeletion(s, ref)).thenThrows(NotFoundError);
  });

  test('deletion: requested once, completed once, never without a request', () => {
    given([created]).when((s) => requestProjectDeletion(s, ref)).then([deletionRequested]);
    given([created, deletionRequested]).when((s) => requestProjectDeletion(s, ref)).then([]);
    given([created, deletionRequested]).when((s) => completeProjectDeletion(s, ref)).then([deleted]);
    given([created, deletionRequested, deleted]).when((s) => completeProjectDeletion(s, ref)).then([]);
    given([created]).when((s) => completeProjectDeletion(s, ref)).thenThrows(InvalidCommandError);
  });

  test('provisioning is recorded once, and not for a project on its way out', () => {
    given([created]).when((s) => markProjectProvisioned(s, ref)).then([provisioned]);
    given([created, provisioned]).when((s) => markProjectProvisioned(s, ref)).then([]);
    given([created, deletionRequested]).when((s) => markProjectProvisioned(s, ref)).then([]);
    given([]).when((s) => markProjectProvisioned(s, ref)).thenThrows(NotFoundError);
    const failed: ProjectEvent = { type: 'project.provisioning_failed', data: { ...ref, reason: 'why' } };
    given([created]).when((s) => recordProjectProvisioningFailure(s, { ...ref, reason: 'why' })).then([failed]);
    given([created, provisioned]).when((s) => recordProjectProvisioningFailure(s, { ...ref, reason: 'why' })).then([]);
  });

  test('a deleted group comes off the list once; projects that do not list it, or are going, do not change', () => {
    const remove = (groupId: string, organizationId = ref.organizationId) => (s: Parameters<typeof removeProjectGroup>[0]) =>
      removeProjectGroup(s, { projectId: ref.projectId, organizationId, groupId });
    given([created, provisioned]).when(remove('g-1')).then([groupRemoved]);
    given([created, provisioned, groupRemoved]).when(remove('g-1')).then([]);
    given([created]).when(remove('g-2')).then([]);
    given([created]).when(remove('g-1', 'org-2')).then([]);
    given([created, deletionRequested]).when(remove('g-1')).then([]);
    given([created, deletionRequested, deleted]).when(remove('g-1')).then([]);
    given([]).when(remove('g-1')).then([]);
    const after = given([created, provisioned, groupRemoved]).state;
    assert.ok(after.status === 'active' && after.groupIDs.length === 0 && after.provisioning === 'provisioned');
  });

  test('a deletion that failed for good is recorded once; a new request starts it again', () => {
    const fail = (s: Parameters<typeof recordProjectDeletionFailure>[0]) => recordProjectDeletionFailure(s, { ...ref, reason: 'ConflictError: busy' });
    given([created, deletionRequested]).when(fail).then([deletionFailed]);
    given([created, deletionRequested, deletionFailed]).when(fail).then([]);
    given([created]).when(fail).then([]);
    assert.equal(isProjectDeletionPending(given([created, deletionRequested, deletionFailed]).state), false);
    given([created, deletionRequested, deletionFailed]).when((s) => requestProjectDeletion(s, ref)).then([deletionRequested]);
    assert.equal(isProjectDeletionPending(given([created, deletionRequested, deletionFailed, deletionRequested]).state), true);
    given([created, deletionRequested, deletionFailed]).when((s) => updateProject(s, { ...ref, ...details })).thenThrows(ConflictError);
  });

  test('folds to the state the events describe', () => {
    assert.deepEqual(given([created]).state, { status: 'active', provisioning: 'pending', id: 'p-1', organizationId: 'org-1', ...details });
    assert.equal(given([created, deletionRequested]).state.status, 'deleting');
    assert.deepEqual(given([created, deletionRequested, deleted]).state, { status: 'deleted', id: 'p-1', organizationId: 'org-1', name: 'web' });
  });
});
