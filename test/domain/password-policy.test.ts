import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BUILT_IN_PASSWORD_POLICY, temporaryPasswordFor } from '../../src/commands/credentials/handlers.js';
import { effectivePasswordPolicy, type PasswordPolicy, passwordPolicySchema, passwordViolations } from '../../src/domain/credentials/password-policy.js';
import { changePasswordPolicy, organizationDecider } from '../../src/domain/organization/decider.js';
import type { OrganizationEvent } from '../../src/domain/organization/events.js';
import { ConflictError, NotFoundError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const relaxed: PasswordPolicy = { ...BUILT_IN_PASSWORD_POLICY, min_length: 8 };
const strict: PasswordPolicy = {
  enabled: true,
  min_length: 12,
  reuse_disallow_limit: 3,
  digit: true,
  uppercase_letter: true,
  lowercase_letter: true,
  special_character: true,
  disallow_username_as_password: true,
  maximum_password_attempts: 3,
};
const rules = (policy: PasswordPolicy, password: string, names: string[] = []) => passwordViolations(policy, password, names).map((v) => v.rule);

describe('password policy rules', () => {
  test('min_length counts characters (code points), not UTF-16 units', () => {
    assert.deepEqual(rules(relaxed, '1234567'), ['min_length']);
    assert.deepEqual(rules(relaxed, '12345678'), []);
    assert.deepEqual(rules(relaxed, '😀😀😀😀😀😀😀'), ['min_length'], '7 characters, 14 units');
  });

  test('at most 256 characters whatever the policy', () => {
    assert.deepEqual(rules(relaxed, 'a'.repeat(256)), []);
    assert.deepEqual(rules(relaxed, 'a'.repeat(257)), ['max_length']);
  });

  test('each composition rule on its own, and only when asked for', () => {
    const only = (rule: keyof PasswordPolicy) => ({ ...relaxed, [rule]: true });
    assert.deepEqual(rules(only('digit'), 'no digits here'), ['digit']);
    assert.deepEqual(rules(only('digit'), 'one digit: ٣'), [], 'any decimal digit');
    assert.deepEqual(rules(only('uppercase_letter'), 'all lower case'), ['uppercase_letter']);
    assert.deepEqual(rules(only('uppercase_letter'), 'only one Él'), []);
    assert.deepEqual(rules(only('lowercase_letter'), 'ALL UPPER CASE'), ['lowercase_letter']);
    assert.deepEqual(rules(only('lowercase_letter'), 'ONE lOWER'), []);
    assert.deepEqual(rules(only('special_character'), 'LettersAnd123'), ['special_character']);
    assert.deepEqual(rules(only('special_character'), 'Letters And 123'), [], 'a space is special');
    assert.deepEqual(rules(relaxed, 'alllowercaseletters'), [], 'nothing asked, nothing refused');
  });

  test('disallow_username_as_password: the login name, an email and its local part, the display name, case aside', () => {
    const policy = { ...relaxed, disallow_username_as_password: true };
    const names = ['Jane.Doe@example.com', 'jdoe'];
    assert.deepEqual(rules(policy, 'jane.doe@example.com', names), ['disallow_username_as_password']);
    assert.deepEqual(rules(policy, 'xxJANE.DOExx', names), ['disallow_username_as_password']);
    assert.deepEqual(rules(policy, 'my jdoe secret', names), ['disallow_username_as_password']);
    assert.deepEqual(rules(policy, 'entirely different', names), []);
    assert.deepEqual(rules({ ...policy, disallow_username_as_password: false }, 'jane.doe@example.com', names), []);
    assert.deepEqual(rules(policy, 'al is not looked for', ['al']), [], 'names under 3 characters are not looked for');
  });

  test('every broken rule is listed, not the first one only', () => {
    assert.deepEqual(rules(strict, 'jdoe', ['jdoe']), ['min_length', 'digit', 'uppercase_letter', 'special_character', 'disallow_username_as_password']);
    assert.deepEqual(rules(strict, 'Correct-Horse-7-Battery', ['jdoe']), []);
  });

  test('the bounds of a policy', () => {
    const valid = (change: Partial<Record<keyof PasswordPolicy, unknown>>) => passwordPolicySchema.safeParse({ ...strict, ...change }).success;
    assert.ok(valid({}));
    assert.ok(!valid({ min_length: 7 }) && valid({ min_length: 8 }) && valid({ min_length: 128 }) && !valid({ min_length: 129 }));
    assert.ok(!valid({ reuse_disallow_limit: -1 }) && valid({ reuse_disallow_limit: 0 }) && valid({ reuse_disallow_limit: 24 }) && !valid({ reuse_disallow_limit: 25 }));
    assert.ok(!valid({ maximum_password_attempts: 0 }) && valid({ maximum_password_attempts: 1 }) && valid({ maximum_password_attempts: 100 }) && !valid({ maximum_password_attempts: 101 }));
    assert.ok(!valid({ min_length: 8.5 }) && !valid({ digit: 'yes' }));
    assert.ok(!passwordPolicySchema.safeParse({ ...strict, extra: 1 }).success, 'unknown fields refused');
  });

  test("the organization's policy when enabled, else the platform default", () => {
    assert.equal(effectivePasswordPolicy(strict, relaxed), strict);
    assert.equal(effectivePasswordPolicy({ ...strict, enabled: false }, relaxed), relaxed);
    assert.equal(effectivePasswordPolicy(undefined, relaxed), relaxed);
  });

  test('temporary passwords satisfy the policy they are made for', () => {
    for (const policy of [BUILT_IN_PASSWORD_POLICY, strict, { ...strict, min_length: 128 }, { ...relaxed, digit: true, special_character: true }]) {
      for (let i = 0; i < 200; i++) {
        const password = temporaryPasswordFor(policy);
        assert.deepEqual(rules(policy, password), [], password);
        assert.ok(password.length >= 22);
      }
    }
    assert.notEqual(temporaryPasswordFor(strict), temporaryPasswordFor(strict));
  });
});

describe('organization decider: password policy', () => {
  const given = givenDecider(organizationDecider);
  const created: OrganizationEvent = { type: 'organization.created', data: { organizationId: 'org-1', name: 'acme', tags: [], spec: { organizationType: 'adhoc' } } };
  const changed = (policy: PasswordPolicy): OrganizationEvent => ({ type: 'organization.password_policy.changed', data: { organizationId: 'org-1', policy } });

  test('set, changed, and the same policy again records nothing', () => {
    given([created]).when((s) => changePasswordPolicy(s, { organizationId: 'org-1', policy: strict })).then([changed(strict)]);
    given([created, changed(strict)]).when((s) => changePasswordPolicy(s, { organizationId: 'org-1', policy: { ...strict } })).then([]);
    given([created, changed(strict)]).when((s) => changePasswordPolicy(s, { organizationId: 'org-1', policy: relaxed })).then([changed(relaxed)]);
    const state = given([created, changed(strict), { type: 'organization.updated', data: { organizationId: 'org-1', name: 'acme2', tags: [], spec: { organizationType: 'adhoc' } } }]).state;
    assert.deepEqual(state.status === 'active' && state.passwordPolicy, strict, 'an update of the details keeps the policy');
  });

  test('no organization, or one on its way out: refused', () => {
    given([]).when((s) => changePasswordPolicy(s, { organizationId: 'org-1', policy: strict })).thenThrows(NotFoundError);
    given([created, { type: 'organization.deletion_requested', data: { organizationId: 'org-1' } }])
      .when((s) => changePasswordPolicy(s, { organizationId: 'org-1', policy: strict }))
      .thenThrows(ConflictError);
  });
});
