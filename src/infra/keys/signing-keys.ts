import { createPrivateKey, type KeyObject, sign as signWithKey } from 'node:crypto';
import { promisify } from 'node:util';
import { chmodSync, existsSync, linkSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { preparePrivateDirectory } from '../files/private-files.js';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyOptions,
} from 'jose';

export const SIGNING_ALGORITHM = 'ES256';

interface StoredKey {
  readonly kid: string;
  readonly createdAt: string;
  readonly privateJwk: JWK;
}

interface LoadedKey extends StoredKey {
  readonly privateKey: CryptoKey;
  /** The same private key for node:crypto, which signs off the main thread with less work per token than WebCrypto through jose. */
  readonly signingKey: KeyObject;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** How often a running service looks for keys rotated by another process, by default. */
const RELOAD_CHECK_MS = 5_000;

const signAsync = promisify(signWithKey);
/** The base64url JSON of a JWS protected header, per key and type: the same for every token. */
const protectedHeaders = new Map<string, string>();
const protectedHeader = (kid: string, typ: string): string => {
  const key = `${kid} ${typ}`;
  let encoded = protectedHeaders.get(key);
  if (encoded === undefined) {
    if (protectedHeaders.size > 64) protectedHeaders.clear();
    protectedHeaders.set(key, (encoded = Buffer.from(JSON.stringify({ alg: SIGNING_ALGORITHM, kid, typ })).toString('base64url')));
  }
  return encoded;
};

const toPublicJwk = ({ d: _d, ...publicPart }: JWK, kid: string): JWK => ({ ...publicPart, kid, alg: SIGNING_ALGORITHM, use: 'sig' });

async function load(stored: StoredKey): Promise<LoadedKey> {
  const publicJwk = toPublicJwk(stored.privateJwk, stored.kid);
  return {
    ...stored,
    privateKey: (await importJWK(stored.privateJwk, SIGNING_ALGORITHM)) as CryptoKey,
    signingKey: createPrivateKey({ key: stored.privateJwk as import('node:crypto').JsonWebKey, format: 'jwk' }),
    publicKey: (await importJWK(publicJwk, SIGNING_ALGORITHM)) as CryptoKey,
    publicJwk,
  };
}

async function newKey(now: Date): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  return { kid: await calculateJwkThumbprint(privateJwk), createdAt: now.toISOString(), privateJwk };
}

/**
 * The ES256 keys that sign tokens: the current one and the one before it, so
 * that tokens signed just before a rotation still verify. They live in a file
 * in DATA_DIR (mode 0600), never in the event log: the log is kept forever and
 * read by auditors, a signing key must not be.
 */
export class SigningKeys {
  private keys: LoadedKey[] = [];
  private loadedVersion = '';
  private checkedAt = 0;

  private constructor(
    private readonly file: string,
    private readonly reloadCheckMs: number,
  ) {}

  static fileIn(dataDir: string): string {
    return join(dataDir, 'signing-keys.json');
  }

  /** Load the keys, generating the first one on first start. */
  static async open(dataDir: string, options: { reloadCheckMs?: number } = {}): Promise<SigningKeys> {
    const keys = new SigningKeys(SigningKeys.fileIn(dataDir), options.reloadCheckMs ?? RELOAD_CHECK_MS);
    if (!existsSync(keys.file)) await keys.writeFirst([await newKey(new Date())]);
    await keys.reload();
    return keys;
  }

  private async write(stored: readonly StoredKey[]): Promise<void> {
    preparePrivateDirectory(dirname(this.file));
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify({ keys: stored }, null, 2), { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, this.file); // atomic: readers see the old file or the new one
  }

  /**
   * The first key: linked into place, so that of several instances starting at
   * once on a shared folder (docs/cluster.md) one wins and all load its key.
   */
  private async writeFirst(stored: readonly StoredKey[]): Promise<void> {
    preparePrivateDirectory(dirname(this.file));
    const temporary = `${this.file}.${process.pid}.first.tmp`;
    writeFileSync(temporary, JSON.stringify({ keys: stored }, null, 2), { mode: 0o600 });
    chmodSync(temporary, 0o600);
    try {
      linkSync(temporary, this.file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(temporary);
    }
  }

  /** The file is replaced by a rename on every write, so a new inode or mtime means new keys. */
  private version(): string {
    const { ino, mtimeMs } = statSync(this.file);
    return `${ino}:${mtimeMs}`;
  }

  private async reload(): Promise<void> {
    const version = this.version();
    const { keys } = JSON.parse(readFileSync(this.file, 'utf8')) as { keys: StoredKey[] };
    if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${this.file} holds no signing key`);
    this.keys = await Promise.all(keys.map(load));
    this.loadedVersion = version;
  }

  /** Pick up a rotation done by `npm run keys:rotate` while the service runs. */
  private async fresh(): Promise<void> {
    const now = Date.now();
    if (now - this.checkedAt < this.reloadCheckMs) return;
    this.checkedAt = now;
    if (this.version() !== this.loadedVersion) await this.reload();
  }

  /** Make a new current key; the old current one stays published as the previous one. */
  async rotate(now = new Date()): Promise<string> {
    await this.reload();
    const next = await newKey(now);
    await this.write([next, ...this.keys.slice(0, 1).map(({ kid, createdAt, privateJwk }) => ({ kid, createdAt, privateJwk }))]);
    await this.reload();
    return next.kid;
  }

  /** The public keys: current and previous. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    return { keys: this.keys.map((key) => key.publicJwk) };
  }

  async sign(payload: JWTPayload, typ: string): Promise<string> {
    await this.fresh();
    const current = this.keys[0]!;
    // A compact JWS (RFC 7515), as jose's SignJWT builds it: ES256 is ECDSA P-256 with SHA-256, the signature r || s (ieee-p1363).
    const input = `${protectedHeader(current.kid, typ)}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    const signature = await signAsync('sha256', Buffer.from(input), { key: current.signingKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }

  /** Verify a token signed by the current or the previous key. */
  async verify(token: string, options: JWTVerifyOptions): Promise<JWTPayload> {
    await this.fresh();
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        let key = this.keys.find((k) => k.kid === header.kid);
        // Signed by a key another instance rotated in since the last check (a shared folder, docs/cluster.md): look again now.
        if (!key && this.version() !== this.loadedVersion) {
          await this.reload();
          key = this.keys.find((k) => k.kid === header.kid);
        }
        if (!key) throw new Error('unknown key id');
        return key.publicKey;
      },
      { algorithms: [SIGNING_ALGORITHM], ...options },
    );
    return payload;
  }
}
