import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createIdentityProvider,
  deleteIdentityProvider,
  identityProviderDecider,
  updateIdentityProvider,
} from '../../src/domain/identity-provider/decider.js';
import { type IdentityProviderEvent, identityProviderEventSchemas } from '../../src/domain/identity-provider/events.js';
import { ConflictError, NotFoundError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(identityProviderDecider);
const target = { providerId: 'idp-1', organizationId: 'org-1' };
const sealedA = `v1:${'A'.repeat(16)}:${'c'.repeat(20)}:${'T'.repeat(22)}`;
const sealedB = `v1:${'B'.repeat(16)}:${'d'.repeat(20)}:${'U'.repeat(22)}`;
const details = {
  name: 'corporate-sso',
  description: 'Our Entra tenant',
  tags: [],
  type: 'microsoft' as const,
  issuer: 'https://login.microsoftonline.com/tenant/v2.0',
  clientID: 'client-1',
  sealedClientSecret: sealedA,
};
const created: IdentityProviderEvent = { type: 'identity_provider.created', data: { ...target, ...details } };
const deleted: IdentityProviderEvent = { type: 'identity_provider.deleted', data: { ...target, name: details.name } };

describe('identity provider decider', () => {
  test('creates a provider, holding only the sealed secret', () => {
    given([]).when((s) => createIdentityProvider(s, { ...target, ...details })).then([created]);
    given([created]).when((s) => createIdentityProvider(s, { ...target, ...details })).thenThrows(ConflictError);
  });

  test('an update without a secret keeps the current one', () => {
    given([created])
      .when((s) => updateIdentityProvider(s, { ...target, ...details, clientID: 'client-2', sealedClientSecret: undefined }))
      .then([{ type: 'identity_provider.updated', data: { ...target, ...details, clientID: 'client-2', sealedClientSecret: sealedA } }]);
  });

  test('an update with a new secret replaces it; an identical update records nothing', () => {
    given([created])
      .when((s) => updateIdentityProvider(s, { ...target, ...details, sealedClientSecret: sealedB }))
      .then([{ type: 'identity_provider.updated', data: { ...target, ...details, sealedClientSecret: sealedB } }]);
    given([created]).when((s) => updateIdentityProvider(s, { ...target, ...details, sealedClientSecret: undefined })).then([]);
  });

  test('deletes once; missing, deleted and foreign providers are not found', () => {
    given([created]).when((s) => deleteIdentityProvider(s, target)).then([deleted]);
    given([created, deleted]).when((s) => deleteIdentityProvider(s, target)).thenThrows(NotFoundError);
    given([]).when((s) => updateIdentityProvider(s, { ...target, ...details })).thenThrows(NotFoundError);
    given([created]).when((s) => updateIdentityProvider(s, { ...target, organizationId: 'org-2', ...details })).thenThrows(NotFoundError);
    given([created]).when((s) => deleteIdentityProvider(s, { ...target, organizationId: 'org-2' })).thenThrows(NotFoundError);
  });

  test('the event schema accepts only a sealed secret, never one in clear', () => {
    const schema = identityProviderEventSchemas['identity_provider.created'];
    assert.throws(() => schema.parse({ ...target, ...details, sealedClientSecret: 'hunter2' }));
    const parsed = schema.parse({ ...target, ...details, clientSecret: 'hunter2' });
    assert.ok(!('clientSecret' in parsed));
  });
});
