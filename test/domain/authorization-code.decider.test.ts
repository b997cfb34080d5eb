import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { authorizationCodeDecider, issueCode, redeemCode } from '../../src/domain/authorization-code/decider.js';
import type { AuthorizationCodeEvent, IssuedCode } from '../../src/domain/authorization-code/events.js';
import { ConflictError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(authorizationCodeDecider);
const code: IssuedCode = {
  codeSha256: 'f'.repeat(64),
  clientId: 'client-1',
  userId: 'user-1',
  organizationId: 'org-1',
  redirectUri: 'https://app.example.com/callback',
  codeChallenge: 'challenge',
  scope: 'openid',
  nonce: 'n',
  authTime: 1000,
  expiresAt: 1060,
};
const issued: AuthorizationCodeEvent = { type: 'authorization_code.issued', data: code };
const redeemed: AuthorizationCodeEvent = { type: 'authorization_code.redeemed', data: { codeSha256: code.codeSha256, sessionId: 'sid-1' } };
const attempt = {
  clientId: 'client-1',
  redirectUri: 'https://app.example.com/callback',
  pkceVerified: (challenge: string): boolean => challenge === 'challenge',
  now: 1030,
  sessionId: 'sid-2',
};
const stateOf = (events: AuthorizationCodeEvent[]) => given(events).state;

describe('authorization code decider', () => {
  test('a code is issued once', () => {
    given([]).when((s) => issueCode(s, code)).then([issued]);
    given([issued]).when((s) => issueCode(s, code)).thenThrows(ConflictError);
  });

  test('the first good redemption records the session it starts', () => {
    assert.deepEqual(redeemCode(stateOf([issued]), attempt), {
      events: [{ type: 'authorization_code.redeemed', data: { codeSha256: code.codeSha256, sessionId: 'sid-2' } }],
    });
    assert.equal(redeemCode(stateOf([issued]), { ...attempt, now: code.expiresAt }).refusal, undefined, 'good up to its expiry second');
  });

  test('an unknown, expired or misdirected code, or a failed PKCE check, is refused without using the code', () => {
    const refusal = (events: AuthorizationCodeEvent[], overrides: Partial<typeof attempt>) => redeemCode(stateOf(events), { ...attempt, ...overrides });
    assert.deepEqual(refusal([], {}), { events: [], refusal: 'unknown_code' });
    assert.deepEqual(refusal([issued], { now: code.expiresAt + 1 }), { events: [], refusal: 'expired' });
    assert.deepEqual(refusal([issued], { clientId: 'client-2' }), { events: [], refusal: 'wrong_client' });
    assert.deepEqual(refusal([issued], { redirectUri: 'https://app.example.com/other' }), { events: [], refusal: 'wrong_redirect_uri' });
    assert.deepEqual(refusal([issued], { redirectUri: undefined }), { events: [], refusal: 'wrong_redirect_uri' });
    assert.deepEqual(refusal([issued], { pkceVerified: () => false }), { events: [], refusal: 'pkce_failed' });
  });

  test('any second use is a replay, recorded with the session the first use started', () => {
    const replayed = { events: [{ type: 'authorization_code.replayed', data: { codeSha256: code.codeSha256, sessionId: 'sid-1' } }], refusal: 'replayed' };
    assert.deepEqual(redeemCode(stateOf([issued, redeemed]), attempt), replayed);
    // Even a second use that would fail otherwise (another client, no verifier): the code leaked.
    assert.deepEqual(redeemCode(stateOf([issued, redeemed]), { ...attempt, clientId: 'x', pkceVerified: () => false }), replayed);
    assert.deepEqual(redeemCode(stateOf([issued, redeemed, ...replayed.events as AuthorizationCodeEvent[]]), attempt), replayed);
  });
});
