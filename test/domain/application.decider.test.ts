import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applicationDecider,
  createApplication,
  deleteApplication,
  redirectUriProblem,
  rotateApplicationSecret,
  updateApplication,
} from '../../src/domain/application/decider.js';
import type { ApplicationEvent } from '../../src/domain/application/events.js';
import { ConflictError, ForbiddenError, InvalidCommandError, NotFoundError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(applicationDecider);
const applicationId = 'app-1';
const organizationId = 'org-1';
const digest = 'a'.repeat(64);
const settings = {
  name: 'console',
  description: 'The web console',
  tags: [{ name: 'team', value: 'web' }],
  redirectURIs: ['https://console.example.com/callback'],
  grantTypes: ['authorization_code' as const, 'refresh_token' as const],
  public: false,
  enabled: true,
  groupIDs: ['group-1'],
  platform: false,
};
const target = { applicationId, organizationId, platformAdministrator: false };
const data = { applicationId, organizationId, ...settings, grantTypes: [...settings.grantTypes] };
const created: ApplicationEvent = { type: 'application.created', data: { ...data, secretSha256: digest } };
const platformCreated: ApplicationEvent = { type: 'application.created', data: { ...data, platform: true, secretSha256: digest } };
const deleted: ApplicationEvent = { type: 'application.deleted', data: { applicationId, organizationId, name: 'console' } };

describe('application decider', () => {
  test('creates a confidential application with the digest of its secret', () => {
    given([]).when((s) => createApplication(s, { ...target, ...settings, secretSha256: digest })).then([created]);
  });

  test('creates a public application without a secret, and refuses a secret for it', () => {
    const spa = { ...settings, public: true };
    given([])
      .when((s) => createApplication(s, { ...target, ...spa }))
      .then([{ type: 'application.created', data: { ...data, public: true } }]);
    given([]).when((s) => createApplication(s, { ...target, ...spa, secretSha256: digest })).thenThrows(InvalidCommandError, /no secret/);
    given([]).when((s) => createApplication(s, { ...target, ...settings })).thenThrows(InvalidCommandError, /needs a secret/);
  });

  test('drops duplicate redirect URIs, grant types and groups', () => {
    given([])
      .when((s) =>
        createApplication(s, {
          ...target,
          ...settings,
          redirectURIs: ['https://a.example/cb', 'https://a.example/cb'],
          grantTypes: ['authorization_code', 'authorization_code'],
          groupIDs: ['g', 'g'],
          secretSha256: digest,
        }),
      )
      .then([
        {
          type: 'application.created',
          data: { ...data, redirectURIs: ['https://a.example/cb'], grantTypes: ['authorization_code'], groupIDs: ['g'], secretSha256: digest },
        },
      ]);
  });

  test('refuses to create it twice', () => {
    given([created]).when((s) => createApplication(s, { ...target, ...settings, secretSha256: digest })).thenThrows(ConflictError);
  });

  test('grant type rules', () => {
    const create = (grantTypes: any[], extra: object = {}) => (s: any) =>
      createApplication(s, { ...target, ...settings, grantTypes, secretSha256: digest, ...extra });
    given([]).when(create([])).thenThrows(InvalidCommandError, /at least one grant type/);
    given([]).when(create(['refresh_token'])).thenThrows(InvalidCommandError, /refresh_token is allowed only together with authorization_code/);
    given([]).when(create(['client_credentials'], { public: true, secretSha256: undefined })).thenThrows(InvalidCommandError, /confidential/);
    // client_credentials alone needs no redirect URI.
    given([])
      .when(create(['client_credentials'], { redirectURIs: [] }))
      .then([{ type: 'application.created', data: { ...data, grantTypes: ['client_credentials'], redirectURIs: [], secretSha256: digest } }]);
    given([]).when(create(['authorization_code'], { redirectURIs: [] })).thenThrows(InvalidCommandError, /at least one redirect URI/);
  });

  test('redirect URI rules: https, loopback http, no fragment, absolute', () => {
    for (const ok of [
      'https://app.example.com/callback',
      'https://app.example.com:8443/cb?x=1',
      'http://localhost/cb',
      'http://localhost:3000/cb',
      'http://127.0.0.1:53682/',
      'http://[::1]:8080/callback',
    ]) {
      assert.equal(redirectUriProblem(ok), undefined, ok);
    }
    const refused: Array<[string, RegExp]> = [
      ['http://app.example.com/cb', /https/],
      ['http://localhost.evil.example/cb', /https/],
      ['http://127.0.0.2/cb', /https/],
      ['https://app.example.com/cb#frag', /fragment/],
      ['https://app.example.com/cb#', /fragment/],
      ['/callback', /absolute/],
      ['app.example.com/cb', /absolute/],
      ['com.example.app:/callback', /https/],
      ['javascript:alert(1)', /https/],
      ['https://app.example.com/cb ', /whitespace/],
      ['https://app.example.com/\ncb', /whitespace/],
    ];
    for (const [uri, problem] of refused) assert.match(redirectUriProblem(uri) ?? 'accepted', problem, uri);
    given([])
      .when((s) => createApplication(s, { ...target, ...settings, redirectURIs: ['http://app.example.com/cb'], secretSha256: digest }))
      .thenThrows(InvalidCommandError, /spec\.redirectURIs: "http:\/\/app\.example\.com\/cb" must use https/);
  });

  test('only a platform administrator makes or changes a platform application', () => {
    given([])
      .when((s) => createApplication(s, { ...target, ...settings, platform: true, secretSha256: digest }))
      .thenThrows(ForbiddenError, /platform administrator/);
    given([])
      .when((s) => createApplication(s, { ...target, platformAdministrator: true, ...settings, platform: true, secretSha256: digest }))
      .then([platformCreated]);
    // Making an existing application a platform one, or touching one that is.
    given([created]).when((s) => updateApplication(s, { ...target, ...settings, platform: true })).thenThrows(ForbiddenError);
    given([platformCreated]).when((s) => updateApplication(s, { ...target, ...settings, platform: false })).thenThrows(ForbiddenError);
    given([platformCreated]).when((s) => rotateApplicationSecret(s, { ...target, secretSha256: digest })).thenThrows(ForbiddenError);
    given([platformCreated]).when((s) => deleteApplication(s, target)).thenThrows(ForbiddenError);
    given([platformCreated])
      .when((s) => updateApplication(s, { ...target, platformAdministrator: true, ...settings, platform: false }))
      .then([{ type: 'application.updated', data }]);
  });

  test('updates with the whole state, and records nothing when nothing changed', () => {
    const { description: _d, ...withoutDescription } = data;
    given([created])
      .when((s) => updateApplication(s, { ...target, ...settings, enabled: false, description: undefined }))
      .then([{ type: 'application.updated', data: { ...withoutDescription, enabled: false } }]);
    given([created]).when((s) => updateApplication(s, { ...target, ...settings })).then([]);
  });

  test('an absent description does not linger after an update', () => {
    const { description: _d, ...withoutDescription } = data;
    const { state } = given([created, { type: 'application.updated', data: withoutDescription }]);
    assert.ok(state.status === 'active' && !('description' in state));
  });

  test('a client does not change kind: public stays public, confidential stays confidential', () => {
    given([created]).when((s) => updateApplication(s, { ...target, ...settings, public: true, grantTypes: ['authorization_code'] })).thenThrows(InvalidCommandError, /spec\.public cannot change/);
  });

  test('an update computed from an older version is refused', () => {
    const { state } = given([created]);
    assert.ok(state.status === 'active' && state.version === 1);
    given([created]).when((s) => updateApplication(s, { ...target, ...settings, enabled: false, expectedVersion: 1 })).then([
      { type: 'application.updated', data: { ...data, enabled: false } },
    ]);
    const rotated: ApplicationEvent = { type: 'application.secret.rotated', data: { applicationId, organizationId, secretSha256: 'b'.repeat(64) } };
    given([created, rotated]).when((s) => updateApplication(s, { ...target, ...settings, enabled: false, expectedVersion: 1 })).thenThrows(ConflictError);
  });

  test('rotates the secret of a confidential application only', () => {
    const secretSha256 = 'b'.repeat(64);
    given([created])
      .when((s) => rotateApplicationSecret(s, { ...target, secretSha256 }))
      .then([{ type: 'application.secret.rotated', data: { applicationId, organizationId, secretSha256 } }]);
    const publicCreated: ApplicationEvent = { type: 'application.created', data: { ...data, public: true } };
    given([publicCreated]).when((s) => rotateApplicationSecret(s, { ...target, secretSha256 })).thenThrows(InvalidCommandError, /public/);
  });

  test('another organization, an unknown or a deleted application is not found', () => {
    const elsewhere = { ...target, organizationId: 'org-2' };
    given([created]).when((s) => updateApplication(s, { ...elsewhere, ...settings })).thenThrows(NotFoundError);
    given([created]).when((s) => rotateApplicationSecret(s, { ...elsewhere, secretSha256: digest })).thenThrows(NotFoundError);
    given([created]).when((s) => deleteApplication(s, elsewhere)).thenThrows(NotFoundError);
    given([]).when((s) => deleteApplication(s, target)).thenThrows(NotFoundError);
    given([created, deleted]).when((s) => deleteApplication(s, target)).thenThrows(NotFoundError);
    given([created, deleted]).when((s) => updateApplication(s, { ...target, ...settings })).thenThrows(NotFoundError);
  });

  test('deletes', () => {
    given([created]).when((s) => deleteApplication(s, target)).then([deleted]);
  });
});
