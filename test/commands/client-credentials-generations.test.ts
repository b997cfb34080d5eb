import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TokenService } from '../../src/commands/oauth/token-service.js';
import type { CommandMetadata } from '../../src/domain/shared/decider.js';
import { sessionStream } from '../../src/domain/session/events.js';
import { SigningKeys } from '../../src/infra/keys/signing-keys.js';
import { SqliteEventStore } from '../../src/infra/sqlite/sqlite-event-store.js';
import { tempDir } from '../support/temp.js';

const client = { clientId: 'machine', organizationId: 'org-1', grantTypes: ['client_credentials'] };
const stream = sessionStream('machine', 'machine');

async function withService(windowSeconds: number | undefined, run: (context: { service: TokenService; store: SqliteEventStore; clock: { now: Date } }) => Promise<void>) {
  const dir = tempDir();
  const store = new SqliteEventStore(join(dir.path, 'events.sqlite'));
  const clock = { now: new Date('2026-01-01T00:00:00.000Z') };
  const service = new TokenService(
    store,
    await SigningKeys.open(dir.path),
    { issuer: 'https://id.example.com', accessTokenTtlSeconds: 600, idTokenTtlSeconds: 600, authorizationCodeTtlSeconds: 60, ...(windowSeconds !== undefined && { clientCredentialsSessionSeconds: windowSeconds }) },
    () => clock.now,
  );
  try {
    await run({ service, store, clock });
  } finally {
    await store.close();
    dir.remove();
  }
}

const meta = (now: Date): CommandMetadata => ({ now, actor: { subject: 'machine', kind: 'application' }, correlationId: 'c', causationId: 'c' });
/** The sid claim (the test's clock is not the signature check's: read the payload). */
const sid = async (_service: TokenService, token: string): Promise<string> => {
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { sid: string };
  assert.ok(claims.sid);
  return claims.sid;
};

describe('client credentials: one generation per window, not one event per token', () => {
  test('within the window tokens join the live generation; past it, with another scope, or after a revocation, a new one starts', async () => {
    await withService(undefined, async ({ service, store, clock }) => {
      const first = await service.clientCredentials(client, '', meta(clock.now));
      for (let i = 0; i < 20; i++) {
        clock.now = new Date(clock.now.getTime() + 60_000); // a token a minute, for 20 minutes
        const next = await service.clientCredentials(client, '', meta(clock.now));
        assert.equal(await sid(service, next.response.access_token), await sid(service, first.response.access_token));
      }
      assert.equal((await store.readStream(stream)).length, 1, '21 tokens, one event');

      await service.clientCredentials(client, 'other', meta(clock.now));
      assert.equal((await store.readStream(stream)).length, 2, 'another scope: a new generation');

      clock.now = new Date(clock.now.getTime() + 3600_000);
      const later = await service.clientCredentials(client, 'other', meta(clock.now));
      assert.equal((await store.readStream(stream)).length, 3, 'an hour on: a new generation');

      await service.revoke(stream, 'revoked_by_client', meta(clock.now), await sid(service, later.response.access_token));
      const after = await service.clientCredentials(client, 'other', meta(clock.now));
      assert.notEqual(await sid(service, after.response.access_token), await sid(service, later.response.access_token), 'a revoked generation is never joined');
      assert.deepEqual((await store.readStream(stream)).map((event) => event.type), ['session.started', 'session.started', 'session.started', 'session.revoked', 'session.started']);
    });
  });

  test('a window of 0: every token starts a generation that supersedes the previous one (as before)', async () => {
    await withService(0, async ({ service, store, clock }) => {
      const first = await service.clientCredentials(client, '', meta(clock.now));
      const second = await service.clientCredentials(client, '', meta(clock.now));
      assert.notEqual(await sid(service, first.response.access_token), await sid(service, second.response.access_token));
      assert.equal((await store.readStream(stream)).length, 2);
    });
  });
});
