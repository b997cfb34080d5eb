import type { TokenService } from '../commands/oauth/token-service.js';
import type { CommandMetadata } from '../domain/shared/decider.js';
import type { RevocationReason } from '../domain/session/events.js';
import type { GlobalPosition, RecordedEvent } from '../ports/event-store.js';
import type { ReadModelStore } from '../ports/read-models.js';
import { SESSIONS, type SessionDocument } from '../projections/sessions/projection.js';
import { causedBy, type ProcessDefinition } from './process-manager.js';
import type { ReadModelSync } from './read-model-sync.js';

type ApplicationDeleted = RecordedEvent<'application.deleted', { applicationId: string }>;
type ApplicationUpdated = RecordedEvent<'application.updated', { applicationId: string; enabled: boolean }>;
type UserUpdated = RecordedEvent<'user.updated', { userId: string; state: string }>;
type PasswordChanged = RecordedEvent<'user.password.changed', { userId: string; temporary: boolean; keepSessionId?: string }>;

interface EndOptions {
  /** A session to leave alive: the one the user changed their password in. */
  readonly keepSessionId?: string;
  /** Only sessions whose generation started before this commit position (see SessionDocument.startedAt). */
  readonly startedBefore?: number;
}

/** Ends sessions found in the sessions read model, each on its own stream (idempotent: an ended one stays ended). */
export class SessionEnder {
  constructor(
    private readonly tokens: Pick<TokenService, 'revoke'>,
    private readonly readModels: ReadModelStore,
  ) {}

  /** Ends the matching live sessions; answers where the last revocation landed, to wait for it. */
  private async end(
    filter: Record<string, unknown>,
    reason: (session: SessionDocument) => RevocationReason,
    meta: CommandMetadata,
    options: EndOptions = {},
  ): Promise<GlobalPosition | undefined> {
    const sessions = await this.readModels
      .collection<SessionDocument>(SESSIONS)
      .find({ ...filter, active: true, ...(options.startedBefore !== undefined && { startedAt: { $lt: options.startedBefore } }) });
    let last: GlobalPosition | undefined;
    for (const session of sessions) {
      if (session.sessionId === options.keepSessionId) continue;
      // Revoke the generation that was found, not a newer one started since.
      last = (await this.tokens.revoke(session._id, reason(session), meta, session.sessionId)) ?? last;
    }
    return last;
  }

  /**
   * Every live session of an organization's users, and its applications' own
   * (client credentials): one query for the whole organization, rather than
   * one per user, which matters with 10,000 users.
   */
  async ofOrganization(organizationId: string, meta: CommandMetadata): Promise<void> {
    await this.end({ organizationId }, (session) => (session.subjectKind === 'user' ? 'user_removed' : 'client_removed'), meta);
  }

  /** Every live session of one user, whatever the client (but the one to keep, and those started after a trust change). */
  ofUser(userId: string, meta: CommandMetadata, reason: RevocationReason = 'user_removed', options?: EndOptions): Promise<GlobalPosition | undefined> {
    return this.end({ subjectId: userId, subjectKind: 'user' }, () => reason, meta, options);
  }

  /** Every live session with a client: its own, and its users', whatever their organization (a platform application). */
  ofClient(clientId: string, meta: CommandMetadata, reason: RevocationReason = 'client_removed', options?: EndOptions): Promise<GlobalPosition | undefined> {
    return this.end({ clientId }, () => reason, meta, options);
  }
}

/**
 * An application that goes (on its own, or in its organization's cascade)
 * ends every session with it, so that no token it issued is honoured again,
 * including those of users of other organizations signed in through a
 * platform application. Being a process with its own checkpoint, a crash
 * between the deletion and the revocation only delays the revocation.
 */
export const sessionRevocationProcess = (deps: { sessions: SessionEnder; sync: ReadModelSync }): ProcessDefinition => ({
  name: 'session-revocation',
  handlers: {
    'application.deleted': async (event: ApplicationDeleted, { signal }) => {
      // Sessions started up to the deletion must be in the read model before it is asked.
      await deps.sync.reach(event.position, signal);
      await deps.sessions.ofClient(event.data.applicationId, causedBy(event));
    },
    // Trust that ended: the routes end these sessions before they answer; this is the crash-safe
    // second pass. Only sessions started before the event go: a login right after a password
    // change, or a re-enabled client's new token, must survive a late pass.
    'user.password.changed': async (event: PasswordChanged, { signal }) => {
      await deps.sync.reach(event.position, signal);
      const reason = event.data.temporary ? 'password_reset' : 'password_changed';
      await deps.sessions.ofUser(event.data.userId, causedBy(event), reason, {
        startedBefore: Number(event.position.commit),
        ...(event.data.keepSessionId !== undefined && { keepSessionId: event.data.keepSessionId }),
      });
    },
    'user.updated': async (event: UserUpdated, { signal }) => {
      // Suspended, or made pending again: no longer a user who may sign in.
      if (event.data.state === 'active') return;
      await deps.sync.reach(event.position, signal);
      await deps.sessions.ofUser(event.data.userId, causedBy(event), 'user_suspended', { startedBefore: Number(event.position.commit) });
    },
    'application.updated': async (event: ApplicationUpdated, { signal }) => {
      if (event.data.enabled) return;
      await deps.sync.reach(event.position, signal);
      await deps.sessions.ofClient(event.data.applicationId, causedBy(event), 'client_disabled', { startedBefore: Number(event.position.commit) });
    },
  },
});
