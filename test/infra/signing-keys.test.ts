import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { SigningKeys } from '../../src/infra/keys/signing-keys.js';
import { createTenant, submitLogin, type Tenant } from '../support/oidc.js';
import { eventually, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';

const ROTATE_SCRIPT = fileURLToPath(new URL('../../scripts/rotate-keys.js', import.meta.url));
const claims = { iss: 'https://issuer.test', aud: 'client', sub: 'user-1' };
const verifyOptions = { issuer: claims.iss, audience: claims.aud };

/** A user's access token, through the login form and the code flow of the confidential client. */
async function userAccessToken(server: TestServer, tenant: Tenant): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const authorization = new URL('/oauth2/v2/authorization', server.baseUrl);
  authorization.search = new URLSearchParams({
    response_type: 'code',
    client_id: tenant.confidential.clientId,
    redirect_uri: tenant.redirectUri,
    scope: 'openid',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const { response } = await submitLogin(authorization.href, tenant.email, tenant.password);
  assert.equal(response.status, 302);
  const code = new URL(response.headers.get('location')!).searchParams.get('code')!;
  const { clientId, clientSecret } = tenant.confidential;
  const tokens = await fetch(`${server.baseUrl}/oauth2/v2/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: tenant.redirectUri, code_verifier: verifier, client_id: clientId, client_secret: clientSecret }),
  });
  assert.equal(tokens.status, 200);
  return ((await tokens.json()) as { access_token: string }).access_token;
}

describe('signing keys', () => {
  const temps: Array<{ remove(): void }> = [];
  const dataDir = () => {
    const temp = tempDir('signing-keys-');
    temps.push(temp);
    return temp.path;
  };
  after(() => temps.forEach((temp) => temp.remove()));

  test('the first open generates a key in a file only its owner can read; the next open loads the same key', async () => {
    const dir = dataDir();
    const keys = await SigningKeys.open(dir);
    assert.equal(statSync(SigningKeys.fileIn(dir)).mode & 0o777, 0o600);
    const { keys: published } = await keys.jwks();
    assert.equal(published.length, 1);
    assert.equal(published[0]!.alg, 'ES256');
    assert.equal(published[0]!.crv, 'P-256');

    const reopened = await SigningKeys.open(dir);
    assert.deepEqual(await reopened.jwks(), await keys.jwks());
  });

  test('every token names its key; the JWKS never holds the private part', async () => {
    const dir = dataDir();
    const keys = await SigningKeys.open(dir);
    await keys.rotate();
    const token = await keys.sign(claims, 'at+jwt');
    const header = decodeProtectedHeader(token);
    const jwks = await keys.jwks();
    assert.equal(header.alg, 'ES256');
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.kid, jwks.keys[0]!.kid);

    const stored = JSON.parse(readFileSync(SigningKeys.fileIn(dir), 'utf8')) as { keys: Array<{ privateJwk: { d: string } }> };
    const serialized = JSON.stringify(jwks);
    for (const key of jwks.keys) assert.equal(key.d, undefined);
    for (const { privateJwk } of stored.keys) assert.ok(!serialized.includes(privateJwk.d), 'a private key is in the JWKS');
  });

  test('a rotation publishes the new key and the previous one, never more than two', async () => {
    const keys = await SigningKeys.open(dataDir());
    const [original] = (await keys.jwks()).keys.map((key) => key.kid);
    const signedBefore = await keys.sign(claims, 'JWT');

    const second = await keys.rotate();
    assert.deepEqual((await keys.jwks()).keys.map((key) => key.kid), [second, original]);
    assert.equal(decodeProtectedHeader(await keys.sign(claims, 'JWT')).kid, second);
    // Tokens signed just before the rotation keep working.
    assert.equal((await keys.verify(signedBefore, verifyOptions)).sub, 'user-1');

    const third = await keys.rotate();
    assert.deepEqual((await keys.jwks()).keys.map((key) => key.kid), [third, second]);
    // Two rotations later the original key is gone, and so is trust in what it signed.
    await assert.rejects(keys.verify(signedBefore, verifyOptions));
  });

  test('an instance picks up a rotation made by another process', async () => {
    const dir = dataDir();
    const running = await SigningKeys.open(dir, { reloadCheckMs: 0 });
    const signedBefore = await running.sign(claims, 'JWT');
    const rotated = await (await SigningKeys.open(dir)).rotate();

    assert.equal((await running.jwks()).keys[0]!.kid, rotated);
    assert.equal(decodeProtectedHeader(await running.sign(claims, 'JWT')).kid, rotated);
    assert.equal((await running.verify(signedBefore, verifyOptions)).sub, 'user-1');
  });

  test('npm run keys:rotate against a running service: the JWKS and new tokens switch to the new key within seconds', async () => {
    const server = await startTestServer();
    try {
      const tenant = await createTenant(server);
      const jwks = async () => ((await (await fetch(`${server.baseUrl}/oauth2/v2/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
      const clientCredentialsToken = async () => {
        const { clientId, clientSecret } = tenant.confidential;
        const response = await fetch(`${server.baseUrl}/oauth2/v2/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
          body: new URLSearchParams({ grant_type: 'client_credentials' }),
        });
        assert.equal(response.status, 200);
        return ((await response.json()) as { access_token: string }).access_token;
      };
      const [original] = await jwks();
      assert.equal(decodeProtectedHeader(await clientCredentialsToken()).kid, original);
      const userTokenBefore = await userAccessToken(server, tenant);
      assert.equal(decodeProtectedHeader(userTokenBefore).kid, original);

      const { stdout } = await promisify(execFile)(process.execPath, [ROTATE_SCRIPT], { env: { PATH: process.env.PATH ?? '', DATA_DIR: server.dataDir } });
      const rotated = /new signing key: (\S+)/.exec(stdout)?.[1];
      assert.ok(rotated && rotated !== original, stdout);
      assert.match(stdout, new RegExp(`published in the JWKS: ${rotated}, ${original}`));

      // The service re-reads the key file at most every 5 s.
      const published = await eventually(async () => {
        const kids = await jwks();
        return kids[0] === rotated && kids;
      }, 8_000, 200);
      assert.deepEqual(published, [rotated, original]);
      assert.equal(decodeProtectedHeader(await clientCredentialsToken()).kid, rotated);

      // A user's access token signed with the previous key is still accepted.
      const userinfo = await fetch(`${server.baseUrl}/oauth2/v2/userinfo`, { headers: { authorization: `Bearer ${userTokenBefore}` } });
      assert.equal(userinfo.status, 200);
      assert.equal(((await userinfo.json()) as { sub: string }).sub, tenant.userId);
    } finally {
      await server.close();
    }
  });
});
