import { z } from 'zod';
import { eventLeafHash } from '../../domain/ledger/leaf.js';
import { TOMBSTONE_EVENT_TYPE, type TombstoneData } from '../../domain/retention.js';
import { positionToString, type RecordedEvent } from '../../ports/event-store.js';

/**
 * One line of an NDJSON export of the log (GET /api/v1/events with
 * Accept: application/x-ndjson, order=asc), as far as the offline verifier
 * needs it: what the leaf hash is computed over, exactly as stored, and the
 * leaf hash itself. Exports may carry more fields (time, actor, resource...);
 * the verifier ignores them.
 */
export const exportLineSchema = z
  .object({
    /** The global position, `commit/prepare`. */
    position: z.string().regex(/^\d+\/\d+$/),
    stream: z.string(),
    revision: z.number().int().min(0),
    type: z.string().min(1),
    data: z.unknown(),
    metadata: z.unknown(),
    /**
     * Base64 of the RFC 9162 leaf hash (src/domain/ledger/leaf.ts). For a
     * retention tombstone, the original's leaf hash it kept; null for a
     * tombstone written before tombstones kept it.
     */
    leafHash: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=$/)
      .nullable(),
    /** Data and metadata as stored, when the line shows personal data opened (crypto-shredding): what the leaf covers. */
    stored: z.object({ data: z.unknown(), metadata: z.unknown() }).optional(),
  })
  .loose();

export type ExportLine = z.infer<typeof exportLineSchema>;

type StoredEvent = Pick<RecordedEvent, 'position' | 'streamName' | 'revision' | 'type' | 'data' | 'metadata'>;

/**
 * The export line of an event as stored (the raw adapter's form, before any
 * upcasting or decryption: what the tree hashed). A retention tombstone keeps
 * its place in the export with the leaf hash of the event it replaced.
 */
export function exportLineOf(event: StoredEvent): ExportLine {
  const leafHash =
    event.type === TOMBSTONE_EVENT_TYPE ? ((event.data as Partial<TombstoneData> | null)?.leafHash ?? null) : eventLeafHash(event).toString('base64');
  return {
    position: positionToString(event.position),
    stream: event.streamName,
    revision: event.revision,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    leafHash,
  };
}
