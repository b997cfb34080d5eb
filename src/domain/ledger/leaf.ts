import canonicalize from 'canonicalize';
import { positionToString, type RecordedEvent } from '../../ports/event-store.js';
import { type Hash, leafHash } from './merkle.js';

/**
 * What the verifiable log hashes for each event: its canonical form (RFC 8785
 * JSON of position, stream, revision, type, data and metadata) exactly as
 * stored, before any upcasting. The same bytes, recomputed by anyone from an
 * export or a data directory, give the same leaf hash.
 */
export function canonicalEvent(event: Pick<RecordedEvent, 'position' | 'streamName' | 'revision' | 'type' | 'data' | 'metadata'>): string {
  const text = canonicalize({
    position: positionToString(event.position),
    stream: event.streamName,
    revision: event.revision,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
  });
  if (text === undefined) throw new Error('an event has no canonical form');
  return text;
}

export const eventLeafHash = (event: Parameters<typeof canonicalEvent>[0]): Hash => leafHash(Buffer.from(canonicalEvent(event), 'utf8'));
