import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SealedSecretError, SecretSealer } from '../../src/infra/secrets/sealer.js';
import { tempDir } from '../support/temp.js';

describe('secret sealer', () => {
  const dir = tempDir();
  after(() => dir.remove());

  test('round-trips, with a fresh iv each time and nothing of the plaintext in the sealed form', () => {
    const sealer = SecretSealer.forDataDir(dir.path);
    const a = sealer.seal('s3cr3t-client-secret', 'ctx');
    const b = sealer.seal('s3cr3t-client-secret', 'ctx');
    assert.notEqual(a, b);
    assert.match(a, /^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{22}$/);
    assert.ok(!a.includes('s3cr3t'));
    assert.equal(sealer.open(a, 'ctx'), 's3cr3t-client-secret');
    assert.equal(sealer.open(sealer.seal('', 'ctx'), 'ctx'), '');
    assert.equal(sealer.open(sealer.seal('ünïcødé ✓', 'ctx'), 'ctx'), 'ünïcødé ✓');
  });

  test('keeps its key in a 0600 file, and a second sealer on the same folder reads the same key', () => {
    const first = SecretSealer.forDataDir(dir.path);
    const keyFiles = readdirSync(dir.path).filter((name) => name.endsWith('.key'));
    assert.deepEqual(keyFiles, ['secrets-v1.key']);
    const keyPath = join(dir.path, keyFiles[0]!);
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    assert.equal(readFileSync(keyPath).length, 32);
    assert.equal(readdirSync(dir.path).filter((name) => name.endsWith('.tmp')).length, 0);
    const second = SecretSealer.forDataDir(dir.path);
    assert.equal(second.open(first.seal('shared', 'ctx'), 'ctx'), 'shared');
  });

  test('rejects tampering with the ciphertext, the iv, the tag or the version', () => {
    const sealer = SecretSealer.forDataDir(dir.path);
    const sealed = sealer.seal('a long enough secret value', 'ctx');
    const [version, iv, ciphertext, tag] = sealed.split(':') as [string, string, string, string];
    const flip = (text: string, at = 0) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    for (const forged of [
      [version, iv, flip(ciphertext, 3), tag],
      [version, flip(iv), ciphertext, tag],
      [version, iv, ciphertext, flip(tag, 5)],
      ['v2', iv, ciphertext, tag],
    ]) {
      assert.throws(() => sealer.open(forged.join(':'), 'ctx'), SealedSecretError);
    }
    assert.throws(() => sealer.open('not sealed', 'ctx'), SealedSecretError);
  });

  test('a value sealed for one context does not open in another', () => {
    const sealer = SecretSealer.forDataDir(dir.path);
    assert.throws(() => sealer.open(sealer.seal('secret', 'identityprovider:a'), 'identityprovider:b'), SealedSecretError);
  });

  test('a value sealed with another key does not open', () => {
    const other = tempDir();
    try {
      const sealed = SecretSealer.forDataDir(other.path).seal('secret', 'ctx');
      assert.throws(() => SecretSealer.forDataDir(dir.path).open(sealed, 'ctx'), SealedSecretError);
    } finally {
      other.remove();
    }
  });

  test('refuses a key file of the wrong size rather than use it', () => {
    const bad = tempDir();
    try {
      writeFileSync(join(bad.path, 'secrets-v1.key'), 'short', { mode: 0o600 });
      assert.throws(() => SecretSealer.forDataDir(bad.path), /32 bytes/);
    } finally {
      bad.remove();
    }
  });
});
