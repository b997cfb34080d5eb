import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createServiceAccount,
  deleteServiceAccount,
  rotateServiceAccountToken,
  serviceAccountDecider,
  updateServiceAccount,
} from '../../src/domain/service-account/decider.js';
import { type ServiceAccountEvent, serviceAccountEventSchemas } from '../../src/domain/service-account/events.js';
import { ConflictError, NotFoundError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(serviceAccountDecider);
const serviceAccountId = 'sa-1';
const organizationId = 'org-1';
const target = { serviceAccountId, organizationId };
const details = { name: 'ci-bot', description: 'Deploys things', tags: [{ name: 'team', value: 'platform' }] };
const first = { tokenSha256: 'a'.repeat(64), expiry: '2030-01-01T00:00:00.000Z' };
const second = { tokenSha256: 'b'.repeat(64), expiry: '2030-04-01T00:00:00.000Z' };
const created: ServiceAccountEvent = { type: 'serviceaccount.created', data: { ...target, ...details, ...first } };
const rotated: ServiceAccountEvent = { type: 'serviceaccount.token.rotated', data: { ...target, ...second } };
const deleted: ServiceAccountEvent = { type: 'serviceaccount.deleted', data: { ...target, name: 'ci-bot' } };

describe('service account decider', () => {
  test('creates an account with the digest of its first token', () => {
    given([]).when((s) => createServiceAccount(s, { ...target, ...details, ...first })).then([created]);
  });

  test('refuses to create it twice, even after deletion', () => {
    given([created]).when((s) => createServiceAccount(s, { ...target, ...details, ...first })).thenThrows(ConflictError);
    given([created, deleted]).when((s) => createServiceAccount(s, { ...target, ...details, ...first })).thenThrows(ConflictError);
  });

  test('updates the details, and records nothing when nothing changed', () => {
    const renamed = { ...details, name: 'deploy-bot' };
    given([created])
      .when((s) => updateServiceAccount(s, { ...target, ...renamed }))
      .then([{ type: 'serviceaccount.updated', data: { ...target, ...renamed } }]);
    given([created]).when((s) => updateServiceAccount(s, { ...target, ...details })).then([]);
  });

  test('rotation replaces the digest and the expiry', () => {
    given([created]).when((s) => rotateServiceAccountToken(s, { ...target, ...second })).then([rotated]);
    const { state } = given([created, rotated]);
    assert.equal(state.status, 'active');
    assert.equal(state.status === 'active' && state.tokenSha256, second.tokenSha256);
    assert.equal(state.status === 'active' && state.expiry, second.expiry);
  });

  test('deletes an active account once; then it is not found', () => {
    given([created, rotated]).when((s) => deleteServiceAccount(s, target)).then([deleted]);
    given([created, deleted]).when((s) => deleteServiceAccount(s, target)).thenThrows(NotFoundError);
    given([created, deleted]).when((s) => rotateServiceAccountToken(s, { ...target, ...second })).thenThrows(NotFoundError);
    given([created, deleted]).when((s) => updateServiceAccount(s, { ...target, ...details })).thenThrows(NotFoundError);
  });

  test('an account that does not exist is not found', () => {
    given([]).when((s) => updateServiceAccount(s, { ...target, ...details })).thenThrows(NotFoundError);
    given([]).when((s) => rotateServiceAccountToken(s, { ...target, ...second })).thenThrows(NotFoundError);
    given([]).when((s) => deleteServiceAccount(s, target)).thenThrows(NotFoundError);
  });

  test("another organization's account is not found, whatever the command", () => {
    const elsewhere = { serviceAccountId, organizationId: 'org-2' };
    given([created]).when((s) => updateServiceAccount(s, { ...elsewhere, ...details, name: 'x' })).thenThrows(NotFoundError);
    given([created]).when((s) => rotateServiceAccountToken(s, { ...elsewhere, ...second })).thenThrows(NotFoundError);
    given([created]).when((s) => deleteServiceAccount(s, elsewhere)).thenThrows(NotFoundError);
  });

  test('the event schemas keep no token: unknown fields are dropped, digests must be digests', () => {
    const parsed = serviceAccountEventSchemas['serviceaccount.token.rotated'].parse({ ...target, ...second, accessToken: 'sa_secret' });
    assert.ok(!('accessToken' in parsed));
    assert.throws(() => serviceAccountEventSchemas['serviceaccount.token.rotated'].parse({ ...target, tokenSha256: 'sa_secret', expiry: second.expiry }));
  });
});
