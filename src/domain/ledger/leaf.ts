import { positionToString, type RecordedEvent } from '../../ports/event-store.js';
import { canonicalJson } from './canonical-json.js';
import { type Hash, leafHash } from './merkle.js';

/**
 * What the verifiable log hashes for each event: its canonical form (RFC 8785
 * JSON of position, stream, revision, type, data and metadata) exactly as
 * stored, before any upcasting. The same bytes, recomputed by anyone from an
 * export or a data directory, give the same leaf hash.
 */
export function canonicalEvent(event: Pick<RecordedEvent, 'position' | 'streamName' | 'revision' | 'type' | 'data' | 'metadata'>): string {
  // Its members in JCS order already: only data and metadata are sorted.
  return canonicalJson({
    data: event.data,
    metadata: event.metadata,
    position: positionToString(event.position),
    revision: event.revision,
    stream: event.streamName,
    type: event.type,
  });
}

export const eventLeafHash = (event: Parameters<typeof canonicalEvent>[0]): Hash => leafHash(canonicalEvent(event));
