import type { ActorKind } from '../../ports/event-store.js';

/** Who is calling, as established by the authentication middleware. */
export interface Caller {
  readonly subject: string;
  readonly kind: ActorKind;
  readonly platformAdministrator: boolean;
}
