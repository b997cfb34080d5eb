import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  completeProjectDeletion,
  createProject,
  projectDecider,
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

  test('folds to the state the events describe', () => {
    assert.equal(given([created]).state.status, 'active');
    assert.equal(given([created, deletionRequested]).state.status, 'deleting');
    assert.deepEqual(given([created, deletionRequested, deleted]).state, { status: 'deleted', id: 'p-1', organizationId: 'org-1', name: 'web' });
  });
});
