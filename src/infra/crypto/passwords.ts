import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { type HashLane, HashQueue } from './hash-queue.js';

/**
 * Password hashing with scrypt at the cost OWASP recommends (N=2^17, r=8, p=1),
 * run on libuv's thread pool so a login does not block the event loop. The
 * parameters are stored with the hash, so they can be raised later.
 */
const COST = { N: 2 ** 17, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_BYTES = 16;

/** Every hash and check goes through one queue per process; see configurePasswordHashing. */
let queue = new HashQueue(2, 8);

/**
 * At most `concurrency` password hashes at once (libuv's pool has 4 threads,
 * shared with file and DNS work), at most `maxWaiting` waiting; beyond that a
 * hash throws HashQueueFullError (a 503 with Retry-After).
 */
export function configurePasswordHashing(options: { concurrency: number; maxWaiting: number }): void {
  queue = new HashQueue(options.concurrency, options.maxWaiting);
}

const derive = (password: string, salt: Buffer, cost: { N: number; r: number; p: number }, lane?: HashLane): Promise<Buffer> =>
  queue.run(
    () =>
      new Promise((resolve, reject) =>
        scrypt(password.normalize('NFC'), salt, KEY_LENGTH, { ...cost, maxmem: 256 * cost.N * cost.r }, (error, key) =>
          error ? reject(error) : resolve(key),
        ),
      ),
    lane,
  );

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Constant-time comparison against a stored hash; false for anything malformed. */
export async function verifyPassword(password: string, stored: string, lane?: HashLane): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await derive(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) }, lane);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A hash of a password nobody knows, to spend the same time on unknown users as on known ones. */
export const DUMMY_HASH_PROMISE = hashPassword(randomBytes(16).toString('hex'));
