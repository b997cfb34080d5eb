import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  completeOrganizationDeletion,
  createOrganization,
  isDeletionPending,
  markOrganizationProvisioned,
  organizationDecider,
  recordOrganizationDeletionFailure,
  recordOrganizationProvisioningFailure,
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
const provisioned: OrganizationEvent = { type: 'organization.provisioned', data: { organizationId: id } };
const deletionFailed: OrganizationEvent = { type: 'organization.deletion_failed', data: { organizationId: id, reason: 'InvalidCommandError: no' } };

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

  test('provisioning is recorded once, and not for an organization on its way out', () => {
    given([created]).when((s) => markOrganizationProvisioned(s, { organizationId: id })).then([provisioned]);
    given([created, provisioned]).when((s) => markOrganizationProvisioned(s, { organizationId: id })).then([]);
    given([created, deletionRequested]).when((s) => markOrganizationProvisioned(s, { organizationId: id })).then([]);
    given([created, deletionRequested, deleted]).when((s) => markOrganizationProvisioned(s, { organizationId: id })).then([]);
    given([]).when((s) => markOrganizationProvisioned(s, { organizationId: id })).thenThrows(NotFoundError);
    const failed: OrganizationEvent = { type: 'organization.provisioning_failed', data: { organizationId: id, reason: 'why' } };
    given([created]).when((s) => recordOrganizationProvisioningFailure(s, { organizationId: id, reason: 'why' })).then([failed]);
    given([created, provisioned]).when((s) => recordOrganizationProvisioningFailure(s, { organizationId: id, reason: 'why' })).then([]);
    given([created, failed]).when((s) => markOrganizationProvisioned(s, { organizationId: id })).then([]);
  });

  test('an update keeps where provisioning stands', () => {
    const updated: OrganizationEvent = { type: 'organization.updated', data: { organizationId: id, ...details, name: 'acme-2' } };
    assert.deepEqual(given([created, provisioned, updated]).state, { status: 'active', id, provisioning: 'provisioned', ...details, name: 'acme-2' });
    given([created, updated]).when((s) => markOrganizationProvisioned(s, { organizationId: id })).then([provisioned]);
  });

  test('a cascade that failed for good is recorded once; a new request starts it again', () => {
    const fail = (s: Parameters<typeof recordOrganizationDeletionFailure>[0]) => recordOrganizationDeletionFailure(s, { organizationId: id, reason: 'InvalidCommandError: no' });
    given([created, deletionRequested]).when(fail).then([deletionFailed]);
    given([created, deletionRequested, deletionFailed]).when(fail).then([]);
    given([created]).when(fail).then([]);
    given([created, deletionRequested, deleted]).when(fail).then([]);
    // Still being deleted (no children, no updates), but the cascade waits for a new request.
    const failedState = given([created, deletionRequested, deletionFailed]).state;
    assert.equal(failedState.status, 'deleting');
    assert.equal(isDeletionPending(failedState), false);
    given([created, deletionRequested, deletionFailed]).when((s) => updateOrganization(s, { organizationId: id, ...details })).thenThrows(ConflictError);
    given([created, deletionRequested, deletionFailed]).when((s) => requestOrganizationDeletion(s, { organizationId: id })).then([deletionRequested]);
    const restarted = given([created, deletionRequested, deletionFailed, deletionRequested]).state;
    assert.equal(isDeletionPending(restarted), true);
    given([created, deletionRequested, deletionFailed, deletionRequested]).when((s) => requestOrganizationDeletion(s, { organizationId: id })).then([]);
  });

  test('folds to the state the events describe', () => {
    assert.deepEqual(given([created]).state, { status: 'active', id, provisioning: 'pending', ...details });
    assert.equal(isDeletionPending(given([created, deletionRequested]).state), true);
    assert.equal(given([created, deletionRequested]).state.status, 'deleting');
    assert.deepEqual(given([created, deletionRequested, deleted]).state, { status: 'deleted', id, name: 'acme' });
  });
});
