import type { ActorKind } from '../../ports/event-store.js';

/** Who is calling, as established by the authentication middleware. */
export interface Caller {
  /** Recorded as the actor of the events the caller causes (createdBy, modifiedBy). */
  readonly subject: string;
  readonly kind: ActorKind;
  readonly platformAdministrator: boolean;
  /** The organization a user, service account or application belongs to. */
  readonly organizationId?: string;
  /** The id of the user, service account or application. */
  readonly principalId?: string;
  /** The session of the access token the caller presented, if it presented one. */
  readonly sessionId?: string;
  /** The application (OAuth client) the caller's access token was issued to, if it presented one. */
  readonly clientId?: string;
}
