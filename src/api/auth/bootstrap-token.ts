import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { BOOTSTRAP_STREAM } from '../../domain/bootstrap/events.js';
import { toNewEvent } from '../../commands/pipeline.js';
import { type EventStore, WrongExpectedRevisionError } from '../../ports/event-store.js';
import type { Caller } from './caller.js';

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

export const PLATFORM_ADMINISTRATOR: Caller = {
  subject: 'platform-administrator',
  kind: 'platform_administrator',
  platformAdministrator: true,
};

/**
 * The platform administrator's credential. With IDENTITY_BOOTSTRAP_TOKEN set,
 * that token; otherwise the first start generates one, prints it once, and the
 * log keeps only its SHA-256 digest.
 */
export class BootstrapCredential {
  private constructor(private readonly digest: Buffer) {}

  static async establish(events: EventStore, configured: string | undefined, logger: Logger): Promise<BootstrapCredential> {
    if (configured) return new BootstrapCredential(sha256(configured));
    const [issued] = await events.readStream(BOOTSTRAP_STREAM, { direction: 'backwards', maxCount: 1 });
    if (issued) return new BootstrapCredential(Buffer.from((issued.data as { tokenSha256: string }).tokenSha256, 'hex'));

    const token = randomBytes(32).toString('base64url');
    const id = uuidv7();
    const event = toNewEvent(
      { type: 'platform.bootstrap_token.issued', data: { tokenSha256: sha256(token).toString('hex') } },
      { now: new Date(), actor: { subject: 'system', kind: 'system' }, correlationId: id, causationId: id },
    );
    try {
      await events.appendToStream(BOOTSTRAP_STREAM, [event], { expectedRevision: 'no_stream' });
    } catch (error) {
      // Another instance issued one first: use theirs.
      if (error instanceof WrongExpectedRevisionError) return BootstrapCredential.establish(events, configured, logger);
      throw error;
    }
    // Printed once, on purpose, outside the structured log: it is the only copy.
    process.stderr.write(
      `\nGenerated the platform administrator's bootstrap token (shown only this once; only its hash is kept):\n\n  ${token}\n\n` +
        'Send it as "Authorization: Bearer <token>", or set IDENTITY_BOOTSTRAP_TOKEN to choose your own.\n\n',
    );
    logger.warn('generated a bootstrap token for the platform administrator (printed on stderr)');
    return new BootstrapCredential(sha256(token));
  }

  matches(token: string): boolean {
    return timingSafeEqual(sha256(token), this.digest);
  }

  /** As a credential resolver: the platform administrator, for the bootstrap token. */
  readonly resolve = (token: string): Caller | undefined => (this.matches(token) ? PLATFORM_ADMINISTRATOR : undefined);
}
