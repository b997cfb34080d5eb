import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  completeOrganizationDeletion,
  createOrganization,
  organizationDecider,
  requestOrganizationDeletion,
  updateOrganization,
} from '../../src/domain/organization/decider.js';
import type { OrganizationEvent } from '../../src/domain/organization/events.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(organizationDecider);
const id = 'org-1';
const details = { name: 'acme', description: 'Acme Corp', tags: [{ name: 'tier', value: 'gold' }], spec: { organizationType: 'adhoc' as const } };
const created: OrganizationEvent = { type: 'organization.created', data: { organizationId: id, ...details } };
const deletionRequested: OrganizationEvent = { type: 'organization.deletion_requested', data: { organizationId: id } };
const deleted: OrganizationEvent = { type: 'organization.deleted', data: { organizationId: id, name: 'acme' } };

describe('organization decider', () => {
  test('creates an organization that does not exist yet', () => {
    given([]).when((s) => createOrganization(s, { organizationId: id, ...details })).then([created]);
  });

  test('refuses to create it twice', () => {
    given([created]).when((s) => createOrganization(s, { organizationId: id, ...details })).thenThrows(ConflictError);
  });

  test('updates an active organization, and records nothing when nothing changed', () => {
    const renamed = { ...details, name: 'acme-2' };
    given([created])
      .when((s) => updateOrganization(s, { organizationId: id, ...renamed }))
      .then([{ type: 'organization.updated', data: { organizationId: id, ...renamed } }]);
    given([created]).when((s) => updateOrganization(s, { organizationId: id, ...details })).then([]);
  });

  test('cannot update what does not exist, or what is being deleted', () => {
    given([]).when((s) => updateOrganization(s, { organizationId: id, ...details })).thenThrows(NotFoundError);
    given([created, deletionRequested]).when((s) => updateOrganization(s, { organizationId: id, ...details })).thenThrows(ConflictError, /being deleted/);
    given([created, deletionRequested, deleted]).when((s) => updateOrganization(s, { organizationId: id, ...details })).thenThrows(NotFoundError);
  });

  test('a deletion request marks the organization; a repeated one changes nothing', () => {
    given([created]).when((s) => requestOrganizationDeletion(s, { organizationId: id })).then([deletionRequested]);
    given([created, deletionRequested]).when((s) => requestOrganizationDeletion(s, { organizationId: id })).then([]);
    given([]).when((s) => requestOrganizationDeletion(s, { organizationId: id })).thenThrows(NotFoundError);
  });

  test('completing a deletion needs a request first, and is idempotent', () => {
    given([created, deletionRequested]).when((s) => completeOrganizationDeletion(s, { organizationId: id })).then([deleted]);
    given([created, deletionRequested, deleted]).when((s) => completeOrganizationDeletion(s, { organizationId: id })).then([]);
    given([created]).when((s) => completeOrganizationDeletion(s, { organizationId: id })).thenThrows(InvalidCommandError);
  });

  test('folds to the state the events describe', () => {
    assert.equal(given([created]).state.status, 'active');
    assert.equal(given([created, deletionRequested]).state.status, 'deleting');
    assert.deepEqual(given([created, deletionRequested, deleted]).state, { status: 'deleted', id, name: 'acme' });
  });
});
