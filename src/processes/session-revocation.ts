import type { TokenService } from '../commands/oauth/token-service.js';
import type { CommandMetadata } from '../domain/shared/decider.js';
import type { RecordedEvent } from '../ports/event-store.js';
import type { ReadModelStore } from '../ports/read-models.js';
import { SESSIONS, type SessionDocument } from '../projections/sessions/projection.js';
import { causedBy, type ProcessDefinition } from './process-manager.js';
import type { ReadModelSync } from './read-model-sync.js';

type ApplicationDeleted = RecordedEvent<'application.deleted', { applicationId: string }>;

/** Ends sessions found in the sessions read model, each on its own stream (idempotent: an ended one stays ended). */
export class SessionEnder {
  constructor(
    private readonly tokens: Pick<TokenService, 'revoke'>,
    private readonly readModels: ReadModelStore,
  ) {}

  private async end(filter: Record<string, unknown>, reason: (session: SessionDocument) => 'user_removed' | 'client_removed', meta: CommandMetadata) {
    const sessions = await this.readModels.collection<SessionDocument>(SESSIONS).find({ ...filter, active: true });
    for (const session of sessions) await this.tokens.revoke(session._id, reason(session), meta);
  }

  /**
   * Every live session of an organization's users, and its applications' own
   * (client credentials): one query for the whole organization, rather than
   * one per user, which matters with 10,000 users.
   */
  ofOrganization(organizationId: string, meta: CommandMetadata): Promise<void> {
    return this.end({ organizationId }, (session) => (session.subjectKind === 'user' ? 'user_removed' : 'client_removed'), meta);
  }

  /** Every live session of one user, whatever the client. */
  ofUser(userId: string, meta: CommandMetadata): Promise<void> {
    return this.end({ subjectId: userId, subjectKind: 'user' }, () => 'user_removed', meta);
  }

  /** Every live session with a client: its own, and its users', whatever their organization (a platform application). */
  ofClient(clientId: string, meta: CommandMetadata): Promise<void> {
    return this.end({ clientId }, () => 'client_removed', meta);
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
  },
});
