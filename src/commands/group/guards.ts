import { GROUP_EVENT_TYPES, groupStream } from '../../domain/group/events.js';
import type { EventStore } from '../../ports/event-store.js';

/** Events read backwards per page while looking for a stream's newest group event. */
const PAGE = 16;

/**
 * Is the group live in this organization? Every group event carries its
 * group's organization, and a deleted group's stream ends with its deletion,
 * so the newest group event says it, however long the stream: constant work.
 * Events this version cannot read (`$unreadable`, or a type it does not know,
 * which a newer version wrote) are passed over.
 */
export async function isGroupOf(store: EventStore, organizationId: string, groupId: string): Promise<boolean> {
  let fromRevision: number | undefined;
  for (;;) {
    const page = await store.readStream(groupStream(groupId), { direction: 'backwards', maxCount: PAGE, ...(fromRevision !== undefined && { fromRevision }) });
    for (const event of page) {
      if (!GROUP_EVENT_TYPES.has(event.type)) continue;
      return event.type !== 'group.deleted' && (event.data as { organizationId?: unknown }).organizationId === organizationId;
    }
    const oldest = page.at(-1)?.revision;
    if (page.length < PAGE || oldest === undefined || oldest === 0) return false;
    fromRevision = oldest - 1;
  }
}
