import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { preparePrivateDirectory } from '../files/private-files.js';
import { join } from 'node:path';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts secrets the service must be able to read back later (an identity
 * provider's client secret), so that the event log and the read models only
 * ever hold ciphertext. AES-256-GCM with a 256-bit key kept in a file in the
 * data folder, created on first use with mode 0600; the key never enters the
 * log. The sealed form is `v<key version>:<iv>:<ciphertext>:<tag>` (base64url),
 * so that a later key can be added beside this one and old values still open.
 *
 * Every value is bound to a context (e.g. the provider's id) as additional
 * authenticated data: a ciphertext copied onto another resource does not open.
 */
export class SecretSealer {
  static readonly KEY_VERSION = 1;

  private constructor(private readonly keys: ReadonlyMap<number, Buffer>) {}

  /** The sealer for a data folder: loads its key, or creates it on first use. */
  static forDataDir(dataDir: string): SecretSealer {
    preparePrivateDirectory(dataDir);
    const version = SecretSealer.KEY_VERSION;
    return new SecretSealer(new Map([[version, loadOrCreateKey(join(dataDir, `secrets-v${version}.key`))]]));
  }

  seal(plaintext: string, context: string): string {
    const version = SecretSealer.KEY_VERSION;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key(version), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [`v${version}`, iv, ciphertext, cipher.getAuthTag()].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join(':');
  }

  /** The plaintext; throws when the value was tampered with, sealed for another context, or by an unknown key. */
  open(sealed: string, context: string): string {
    const match = SEALED.exec(sealed);
    if (!match) throw new SealedSecretError('not a sealed secret');
    const [, version, iv, ciphertext, tag] = match as unknown as [string, string, string, string, string];
    const decipher = createDecipheriv('aes-256-gcm', this.key(Number(version)), Buffer.from(iv, 'base64url'), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SealedSecretError('sealed secret failed authentication');
    }
  }

  /**
   * A 256-bit key for one purpose (e.g. sealing the pending upstream login in
   * its `state`), derived from the current sealing key with HKDF-SHA256: the
   * sealing key itself never leaves this class, and keys of two purposes are unrelated.
   */
  deriveKey(purpose: string): Uint8Array {
    return new Uint8Array(hkdfSync('sha256', this.key(SecretSealer.KEY_VERSION), Buffer.alloc(0), Buffer.from(`identity-service:${purpose}`, 'utf8'), KEY_BYTES));
  }

  private key(version: number): Buffer {
    const key = this.keys.get(version);
    if (!key) throw new SealedSecretError(`no key for version ${version}`);
    return key;
  }
}

/** The shape of a sealed value: 12-byte iv, any ciphertext, 16-byte tag, in base64url. */
export const SEALED = /^v(\d{1,4}):([A-Za-z0-9_-]{16}):([A-Za-z0-9_-]*):([A-Za-z0-9_-]{22})$/;

export class SealedSecretError extends Error {
  override readonly name = 'SealedSecretError';
}

function loadOrCreateKey(path: string): Buffer {
  try {
    return checkKey(readFileSync(path), path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // Written to a private temporary file and then hard-linked into place, so
  // that a concurrent starter either wins or reads the complete winner's key.
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, randomBytes(KEY_BYTES));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
  return checkKey(readFileSync(path), path);
}

function checkKey(key: Buffer, path: string): Buffer {
  if (key.length !== KEY_BYTES) throw new SealedSecretError(`${path} must hold exactly ${KEY_BYTES} bytes`);
  return key;
}
