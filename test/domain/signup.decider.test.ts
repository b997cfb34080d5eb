import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cancelSignup, completeSignup, issueLink, recordMailed, signupDecider, SignupLinkRefused, startSignup } from '../../src/domain/signup/decider.js';
import type { SignupEvent } from '../../src/domain/signup/events.js';
import { ConflictError } from '../../src/domain/shared/errors.js';
import { givenDecider } from '../support/decider.js';

const given = givenDecider(signupDecider);
const userId = '0b7c9d1e-1111-4222-8333-944455556666';
const organizationId = 'org-1';
const digest = (c: string) => c.repeat(64);
const now = new Date('2026-01-01T12:00:00.000Z');
const started: SignupEvent = { type: 'signup.started', data: { userId, organizationId, clientId: 'console' } };
const link = (generation: number, c = 'a'): SignupEvent => ({
  type: 'signup.link.issued',
  data: { userId, generation, tokenSha256: digest(c), expiresAt: '2026-01-02T00:00:00.000Z' },
});
const completed: SignupEvent = { type: 'signup.completed', data: { userId, organizationId } };

const refused = (refusal: string) => (error: unknown) => error instanceof SignupLinkRefused && error.refusal === refusal;

describe('sign-up decider', () => {
  test('starts once; starting again while pending changes nothing; an ended sign-up does not start again', () => {
    given([]).when((s) => startSignup(s, { userId, organizationId, clientId: 'console' })).then([started]);
    given([started]).when((s) => startSignup(s, { userId, organizationId })).then([]);
    given([started, link(1), completed]).when((s) => startSignup(s, { userId, organizationId })).thenThrows(ConflictError);
  });

  test('each link is the next generation; a mail is recorded once, for the newest link only', () => {
    given([started]).when((s) => issueLink(s, { tokenSha256: digest('a'), expiresAt: '2026-01-02T00:00:00.000Z' })).then([link(1)]);
    given([started, link(1)]).when((s) => issueLink(s, { tokenSha256: digest('b'), expiresAt: '2026-01-02T00:00:00.000Z' })).then([link(2, 'b')]);
    given([started, link(1)]).when((s) => recordMailed(s, { generation: 1 })).then([{ type: 'signup.link.mailed', data: { userId, generation: 1 } }]);
    given([started, link(1), { type: 'signup.link.mailed', data: { userId, generation: 1 } }]).when((s) => recordMailed(s, { generation: 1 })).then([]);
    given([started, link(1), link(2, 'b')]).when((s) => recordMailed(s, { generation: 1 })).then([]);
    given([]).when((s) => issueLink(s, { tokenSha256: digest('a'), expiresAt: '2026-01-02T00:00:00.000Z' })).thenThrows(ConflictError);
  });

  test('the newest link with the right digest, before it expires, completes the sign-up', () => {
    given([started, link(1)]).when((s) => completeSignup(s, { generation: 1, tokenSha256: digest('a'), now })).then([completed]);
  });

  test('every other link is refused, and says why', () => {
    const state = (events: SignupEvent[]) => events.reduce(signupDecider.evolve, signupDecider.initialState());
    const attempt = (events: SignupEvent[], generation: number, c: string, at = now) => () => completeSignup(state(events), { generation, tokenSha256: digest(c), now: at });
    assert.throws(attempt([], 1, 'a'), refused('unknown'));
    assert.throws(attempt([started], 1, 'a'), refused('unknown'));
    assert.throws(attempt([started, link(1)], 1, 'b'), refused('unknown'));
    assert.throws(attempt([started, link(1)], 2, 'a'), refused('unknown'));
    assert.throws(attempt([started, link(1), link(2, 'b')], 1, 'a'), refused('superseded'));
    assert.throws(attempt([started, link(1)], 1, 'a', new Date('2026-01-02T00:00:00.000Z')), refused('expired'));
    assert.throws(attempt([started, link(1), completed], 1, 'a'), refused('used'));
    assert.throws(attempt([started, link(1), { type: 'signup.cancelled', data: { userId } }], 1, 'a'), refused('cancelled'));
  });

  test('a pending sign-up can be cancelled; an ended one stays as it is', () => {
    given([started, link(1)]).when(cancelSignup).then([{ type: 'signup.cancelled', data: { userId } }]);
    given([started, link(1), completed]).when(cancelSignup).then([]);
  });
});
