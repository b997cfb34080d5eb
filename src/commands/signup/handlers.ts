import { createHash, randomBytes } from 'node:crypto';
import { completeSignup, issueLink, recordMailed, signupDecider, SignupLinkRefused, type SignupState, startSignup, cancelSignup } from '../../domain/signup/decider.js';
import { signupStream } from '../../domain/signup/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { updateUser, userDecider } from '../../domain/user/decider.js';
import { userStream } from '../../domain/user/events.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import type { Mailer } from '../../ports/mailer.js';
import { handleCommand, loadState } from '../pipeline.js';

export interface SignupSettings {
  /** The service's public URL: the link points at `${issuer}/api/v1/signup`. */
  readonly issuer: string;
  /** How long a link works (24 hours by default). */
  readonly linkTtlSeconds: number;
}

const digest = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** A link's token: `<userId>.<generation>.<256 random bits>`; the log keeps only its SHA-256. */
const TOKEN = /^([0-9a-f-]{36})\.(\d{1,6})\.([A-Za-z0-9_-]{43})$/;

export const SIGNUP_PATH = '/api/v1/signup';

/**
 * Sign-up with email verification: a user created while it is on starts
 * `pending`; a mailed, single-use link makes it `active`. Each step is a
 * command on the sign-up's own stream, appended with the revision it read, so
 * a link opens once however many instances see it at the same moment.
 */
export class SignupCommands {
  constructor(
    private readonly events: EventStore,
    private readonly mailer: Mailer,
    private readonly settings: SignupSettings,
  ) {}

  async start(command: { userId: string; organizationId: string; clientId?: string }, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    return (await handleCommand(this.events, signupStream(command.userId), signupDecider, (state) => startSignup(state, command), meta)).position;
  }

  async state(userId: string): Promise<SignupState> {
    return (await loadState(this.events, signupStream(userId), signupDecider)).state;
  }

  /**
   * Mail a link, unless the newest one was already mailed (an event handled
   * again after a restart sends nothing twice) or `resend` asks for a new one.
   * A fresh link each time: the token exists only in the mail, and a new link
   * makes the older ones stop working.
   */
  async sendLink(userId: string, meta: CommandMetadata, options: { resend?: boolean } = {}): Promise<'sent' | 'already_sent' | 'not_pending'> {
    const current = await this.state(userId);
    if (current.status !== 'pending') return 'not_pending';
    if (current.link?.mailed && !options.resend) return 'already_sent';
    const user = (await loadState(this.events, userStream(userId), userDecider)).state;
    if (user.status !== 'exists' || user.state !== 'pending') return 'not_pending';

    const secret = randomBytes(32).toString('base64url');
    const expiresAt = new Date(meta.now.getTime() + this.settings.linkTtlSeconds * 1000).toISOString();
    // The generation is decided on the state read; the token names it, so it is made inside the decision.
    let token = '';
    const issued = await handleCommand(
      this.events,
      signupStream(userId),
      signupDecider,
      (state) => {
        const generation = state.status === 'pending' ? (state.link?.generation ?? 0) + 1 : 0;
        token = `${userId}.${generation}.${secret}`;
        return issueLink(state, { tokenSha256: digest(token), expiresAt });
      },
      meta,
    );
    const generation = issued.state.status === 'pending' ? issued.state.link!.generation : 0;
    const link = new URL(`${this.settings.issuer}${SIGNUP_PATH}`);
    link.searchParams.set('token', token);
    if (current.clientId !== undefined) link.searchParams.set('clientID', current.clientId);
    await this.mailer.send(signupMail(user.subject, link.toString(), this.settings.linkTtlSeconds));
    await handleCommand(this.events, signupStream(userId), signupDecider, (state) => recordMailed(state, { generation }), meta);
    return 'sent';
  }

  /**
   * Open a link: the sign-up completes (once: the append names the revision
   * read) and the user becomes active. A user an administrator suspended or
   * deleted meanwhile is not activated by an old mail.
   */
  async complete(token: string, meta: CommandMetadata): Promise<{ userId: string; organizationId: string; clientId?: string; position: GlobalPosition }> {
    const match = TOKEN.exec(token);
    if (!match) throw new SignupLinkRefused('unknown');
    const userId = match[1]!;
    const user = (await loadState(this.events, userStream(userId), userDecider)).state;
    if (user.status !== 'exists' || user.state !== 'pending') {
      const state = await this.state(userId);
      if (state.status === 'pending') await handleCommand(this.events, signupStream(userId), signupDecider, cancelSignup, meta);
      throw new SignupLinkRefused(state.status === 'completed' ? 'used' : state.status === 'none' ? 'unknown' : 'cancelled');
    }
    const completed = await handleCommand(
      this.events,
      signupStream(userId),
      signupDecider,
      (state) => completeSignup(state, { generation: Number(match[2]), tokenSha256: digest(token), now: meta.now }),
      meta,
    );
    const activated = await this.activate(userId, meta);
    const clientId = completed.state.status === 'completed' ? completed.state.clientId : undefined;
    return { userId, organizationId: user.organizationId, ...(clientId !== undefined && { clientId }), position: (activated ?? completed.position)! };
  }

  /**
   * Make the user of a completed sign-up active. Idempotent: the sign-up
   * process runs it again for every `signup.completed`, the crash-safe second
   * pass should the request have stopped between the two appends. Only a user
   * still pending: one suspended meanwhile stays suspended.
   */
  async activate(userId: string, meta: CommandMetadata): Promise<GlobalPosition | undefined> {
    const result = await handleCommand(
      this.events,
      userStream(userId),
      userDecider,
      (state) => (state.status === 'exists' && state.state === 'pending' ? updateUser(state, { ...state, userId, state: 'active' }) : []),
      meta,
    );
    return result.position;
  }
}

/** The mail: plain text first (every client shows it), and a minimal HTML part with the same link. */
function signupMail(to: string, link: string, ttlSeconds: number) {
  const hours = Math.round(ttlSeconds / 3600);
  const text = [
    'Welcome!',
    '',
    'An account was created for you. Open this link to confirm your email address and activate it:',
    '',
    link,
    '',
    `The link works once, for ${hours} hour${hours === 1 ? '' : 's'}. If you did not expect this mail, ignore it.`,
  ].join('\n');
  const escaped = link.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const html = `<p>Welcome!</p><p>An account was created for you. Open this link to confirm your email address and activate it:</p><p><a href="${escaped}">Activate my account</a></p><p>The link works once, for ${hours} hour${hours === 1 ? '' : 's'}. If you did not expect this mail, ignore it.</p>`;
  return { to, subject: 'Activate your account', text, html };
}
