import type { SessionEvent } from '../../domain/session/events.js';
import { sessionStream } from '../../domain/session/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document, ReadModelStore } from '../../ports/read-models.js';
import { ApplicationQueries, type OAuthClient } from '../applications/queries.js';
import { defineProjection, type ProjectionDocuments } from '../projection.js';

/**
 * The current generation of every session, for bearer-token checks: an access
 * token is good only while its `sid` is the session's current one and the
 * session is not revoked. Writes wait for this projection before answering,
 * so a revocation takes effect at once. Only live generations are kept: a
 * revocation deletes the document, so the collection grows with sessions, not
 * with their events (an expired one stays until its pair's next login replaces
 * it: one document per client and subject, see docs/retention.md).
 */
export interface SessionDocument extends Document {
  sessionId: string;
  clientId: string;
  subjectId: string;
  subjectKind: 'user' | 'application';
  organizationId: string;
  active: boolean;
  /** Commit position of the event that started this generation: trust changes end only sessions that started before them. */
  startedAt: number;
}

export const SESSIONS = 'sessions';

type Event = RecordedEvent<SessionEvent['type'], SessionEvent['data']>;

const current = async (event: Event, docs: ProjectionDocuments<SessionDocument>, active: boolean) => {
  const { sessionId, clientId, subjectId, subjectKind, organizationId } = event.data;
  await docs.update(event.streamName, (previous) => {
    const sameGeneration = event.type !== 'session.started' && previous?.sessionId === sessionId;
    const startedAt = sameGeneration && previous ? previous.startedAt : Number(event.position.commit);
    return { _id: event.streamName, sessionId, clientId, subjectId, subjectKind, organizationId, active, startedAt };
  });
};

export const sessionsProjection = defineProjection<SessionDocument>({
  name: 'sessions',
  collection: SESSIONS,
  indexes: [{ fields: ['subjectId'] }, { fields: ['clientId'] }],
  handlers: {
    'session.started': (event: Event, docs) => current(event, docs, true),
    'session.refreshed': (event: Event, docs) => current(event, docs, true),
    // Nothing reads an ended session: the document goes (a re-delivered older event comes before this one again).
    'session.revoked': (event: Event, docs) => docs.update(event.streamName, () => undefined),
  },
});

export class SessionQueries {
  private readonly applications: ApplicationQueries;

  constructor(private readonly readModels: ReadModelStore) {
    this.applications = new ApplicationQueries(readModels);
  }

  /** The session the token names, if it is still the current, live generation. */
  async current(clientId: string, subjectId: string, sessionId: string): Promise<SessionDocument | undefined> {
    const doc = await this.readModels.collection<SessionDocument>(SESSIONS).findById(sessionStream(clientId, subjectId));
    return doc?.active && doc.sessionId === sessionId ? doc : undefined;
  }

  /**
   * What a bearer token needs to be good: its session is current, and its
   * client still exists and is enabled (deleting or disabling an application
   * ends what its tokens can do, at once).
   */
  async live(claims: { client_id: string; sub: string; sid: string }): Promise<SessionDocument | undefined> {
    return (await this.liveWithClient(claims))?.session;
  }

  /** As `live`, with the client (its name answers for an application's own session). */
  async liveWithClient(claims: { client_id: string; sub: string; sid: string }): Promise<{ session: SessionDocument; client: OAuthClient } | undefined> {
    const session = await this.current(claims.client_id, claims.sub, claims.sid);
    if (!session) return undefined;
    const client = await this.applications.client(claims.client_id);
    return client?.enabled ? { session, client } : undefined;
  }

  /** Every live session of a subject (to end them when a user or client goes away). */
  async activeFor(subjectId: string): Promise<SessionDocument[]> {
    return this.readModels.collection<SessionDocument>(SESSIONS).find({ subjectId, active: true });
  }
}
