import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { GrantError, pkceS256, TokenService, type UserClaims } from '../../src/commands/oauth/token-service.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { ConcurrencyError } from '../../src/domain/shared/errors.js';
import { SigningKeys } from '../../src/infra/keys/signing-keys.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { tempDir } from '../support/temp.js';

const client = { clientId: 'client-1', organizationId: 'org-1', grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'] };
const userClaims = async (userId: string): Promise<UserClaims | undefined> => ({ sub: userId, email: 'ada@example.com', name: 'ada', organizationId: 'org-1' });
const verifier = 'v'.repeat(43);
const redirectUri = 'https://app.example.com/callback';

/** A token service over a real SQLite event store, with a clock the test moves. */
async function withService(run: (context: { service: TokenService; store: SqliteEventStore; clock: { now: Date }; meta: () => CommandMetadata }) => Promise<void>) {
  const dir = tempDir();
  const store = new SqliteEventStore(join(dir.path, 'events.sqlite'));
  const clock = { now: new Date('2026-01-01T00:00:00.000Z') };
  const keys = await SigningKeys.open(dir.path);
  const service = new TokenService(
    store,
    keys,
    { issuer: 'https://id.example.com', accessTokenTtlSeconds: 600, idTokenTtlSeconds: 600, authorizationCodeTtlSeconds: 60, refreshReuseGraceSeconds: 10 },
    () => clock.now,
  );
  const meta = (): CommandMetadata => ({ now: clock.now, actor: { subject: 'test', kind: 'system' }, correlationId: 'c', causationId: 'c' });
  try {
    await run({ service, store, clock, meta });
  } finally {
    await store.close();
    dir.remove();
  }
}

const rejectsWith = (promise: Promise<unknown>, code: string, description?: RegExp) =>
  assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof GrantError, String(error));
    assert.equal(error.code, code);
    if (description) assert.match(error.message, description);
    return true;
  });

describe('token service', () => {
  async function signIn(context: Parameters<Parameters<typeof withService>[0]>[0]) {
    const { service, meta } = context;
    const { code } = await service.issueAuthorizationCode(
      { clientId: 'client-1', userId: 'user-1', organizationId: 'org-1', redirectUri, codeChallenge: pkceS256(verifier), scope: 'openid offline_access', authTime: Math.floor(context.clock.now.getTime() / 1000) },
      meta(),
    );
    return (await service.exchangeCode({ client, code, redirectUri, codeVerifier: verifier, user: userClaims }, meta())).response;
  }

  test('a code is good for authorizationCodeTtlSeconds, then expired', async () => {
    await withService(async (context) => {
      const { service, clock, meta } = context;
      const { code } = await service.issueAuthorizationCode(
        { clientId: 'client-1', userId: 'user-1', organizationId: 'org-1', redirectUri, codeChallenge: pkceS256(verifier), scope: 'openid', authTime: Math.floor(clock.now.getTime() / 1000) },
        meta(),
      );
      clock.now = new Date(clock.now.getTime() + 61_000);
      await rejectsWith(service.exchangeCode({ client, code, redirectUri, codeVerifier: verifier, user: userClaims }, meta()), 'invalid_grant', /expired/);
    });
  });

  test('the refresh token rotated away a moment ago is refused without ending the session; later, its use is reuse and ends it', async () => {
    await withService(async (context) => {
      const { service, clock, meta } = context;
      const first = await signIn(context);
      const second = (await service.refresh({ client, refreshToken: first.refresh_token!, user: userClaims }, meta())).response;

      clock.now = new Date(clock.now.getTime() + 5_000);
      await rejectsWith(service.refresh({ client, refreshToken: first.refresh_token!, user: userClaims }, meta()), 'invalid_grant', /already used$/);
      const third = (await service.refresh({ client, refreshToken: second.refresh_token!, user: userClaims }, meta())).response;

      clock.now = new Date(clock.now.getTime() + 10_000);
      await rejectsWith(service.refresh({ client, refreshToken: second.refresh_token!, user: userClaims }, meta()), 'invalid_grant', /session is revoked/);
      await rejectsWith(service.refresh({ client, refreshToken: third.refresh_token!, user: userClaims }, meta()), 'invalid_grant');
    });
  });

  test('a refresh token altered in any part is not valid', async () => {
    await withService(async (context) => {
      const { service, meta } = context;
      const { refresh_token } = await signIn(context);
      const [prefix, stream, revision, secret] = refresh_token!.split('.') as [string, string, string, string];
      for (const altered of [
        `${prefix}.${stream}.${Number(revision) + 1}.${secret}`,
        `${prefix}.${stream}.${revision}.${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`,
        `${prefix}.${Buffer.from('session-client-1-user-2').toString('base64url')}.${revision}.${secret}`,
        `rt0.${stream}.${revision}.${secret}`,
        `${refresh_token}.x`,
      ]) {
        await rejectsWith(service.refresh({ client, refreshToken: altered, user: userClaims }, meta()), 'invalid_grant');
      }
      // None of these counted as reuse: the real token still works.
      assert.ok((await service.refresh({ client, refreshToken: refresh_token!, user: userClaims }, meta())).response.access_token);
    });
  });

  test("a user's activity is recorded at most once a minute", async () => {
    await withService(async ({ service, store, clock }) => {
      const user = { userId: 'user-1', organizationId: 'org-1', subject: 'ada@example.com' };
      // activityThrottled says beforehand what recordActivity will do (the token read paths skip the call when it is).
      assert.equal(service.activityThrottled(user.userId), false);
      assert.ok(await service.recordActivity(user));
      assert.equal(service.activityThrottled(user.userId), true);
      assert.equal(await service.recordActivity(user), undefined);
      clock.now = new Date(clock.now.getTime() + 59_999);
      assert.equal(service.activityThrottled(user.userId), true);
      assert.equal(await service.recordActivity(user), undefined);
      clock.now = new Date(clock.now.getTime() + 1);
      assert.equal(service.activityThrottled(user.userId), false);
      assert.ok(await service.recordActivity(user));
      const events = await store.readStream('useractivity-user-1');
      assert.equal((await store.readStream('user-user-1')).length, 0, 'never in the user stream, which commands read');
      assert.deepEqual(
        events.map((event) => event.data),
        [
          { userId: 'user-1', organizationId: 'org-1', at: '2026-01-01T00:00:00.000Z' },
          { userId: 'user-1', organizationId: 'org-1', at: '2026-01-01T00:01:00.000Z' },
        ],
      );
      assert.equal(events[0]!.metadata.actor.subject, 'ada@example.com');
    });
  });

  test('two instances on one log: a token another instance rotated away is reuse on this one too, though this one remembers it as current', async () => {
    await withService(async (context) => {
      const { service, store, clock, meta } = context;
      const other = new TokenService(
        store,
        await SigningKeys.open(tempDir().path),
        { issuer: 'https://id.example.com', accessTokenTtlSeconds: 600, idTokenTtlSeconds: 600, authorizationCodeTtlSeconds: 60, refreshReuseGraceSeconds: 10 },
        () => clock.now,
      );
      const first = await signIn(context);
      // This instance rotates, and remembers the session with `second` as its newest token.
      const second = (await service.refresh({ client, refreshToken: first.refresh_token!, user: userClaims }, meta())).response;
      // The other instance rotates `second` away.
      const third = (await other.refresh({ client, refreshToken: second.refresh_token!, user: userClaims }, meta())).response;
      clock.now = new Date(clock.now.getTime() + 60_000);
      // `second` again, on this instance: decided on the store, it is reuse, and the session ends.
      await rejectsWith(service.refresh({ client, refreshToken: second.refresh_token!, user: userClaims }, meta()), 'invalid_grant', /session is revoked/);
      await rejectsWith(other.refresh({ client, refreshToken: third.refresh_token!, user: userClaims }, meta()), 'invalid_grant');
    });
  });

  test('a login that loses the session stream to another writer at every attempt fails as a ConcurrencyError (the token endpoint\'s 503, try again), never a raw store error', async () => {
    const dir = tempDir();
    const real = new SqliteEventStore(join(dir.path, 'events.sqlite'));
    // Another instance that writes to the session's stream just before each of this one's appends.
    const rival = { on: true, writes: 0 };
    const store = Object.assign(Object.create(real) as SqliteEventStore, {
      appendToStream: async (stream: string, events: Parameters<SqliteEventStore['appendToStream']>[1], options: Parameters<SqliteEventStore['appendToStream']>[2]) => {
        if (rival.on && stream.startsWith('session-')) {
          rival.writes += 1;
          await real.appendToStream(stream, [{ type: 'session.noted', data: { by: 'another instance' }, metadata: { eventId: `rival-${rival.writes}`, occurredAt: new Date().toISOString(), actor: { subject: 'rival', kind: 'system' }, correlationId: 'r', causationId: 'r' } }], { expectedRevision: 'any' });
        }
        return real.appendToStream(stream, events, options);
      },
    });
    const clock = { now: new Date('2026-01-01T00:00:00.000Z') };
    const service = new TokenService(store, await SigningKeys.open(dir.path), { issuer: 'https://id.example.com', accessTokenTtlSeconds: 600, idTokenTtlSeconds: 600, authorizationCodeTtlSeconds: 60 }, () => clock.now);
    const meta = (): CommandMetadata => ({ now: clock.now, actor: { subject: 'test', kind: 'system' }, correlationId: 'c', causationId: 'c' });
    const login = async () => {
      const { code } = await service.issueAuthorizationCode(
        { clientId: 'client-1', userId: 'user-1', organizationId: 'org-1', redirectUri, codeChallenge: pkceS256(verifier), scope: 'openid offline_access', authTime: Math.floor(clock.now.getTime() / 1000) },
        meta(),
      );
      return service.exchangeCode({ client, code, redirectUri, codeVerifier: verifier, user: userClaims }, meta());
    };
    try {
      const lost = await login().catch((error: unknown) => error);
      assert.ok(lost instanceof ConcurrencyError, String(lost));
      assert.equal(rival.writes, 5, 'five attempts, each met a newer revision');
      rival.on = false;
      assert.ok((await login()).response.refresh_token, 'once the other writer stops, a login goes through');
    } finally {
      await real.close();
      dir.remove();
    }
  });
});
