import { z } from 'zod';

export const ledgerEventSchemas = {
  /**
   * The service signed the Merkle tree of the log at this size
   * (src/processes/tree-heads.ts). The event becomes a leaf itself, of a later tree.
   */
  'ledger.tree_head.signed': z.object({
    treeSize: z.number().int().min(0),
    /** Base64 of the SHA-256 root. */
    rootHash: z.string(),
    /** Milliseconds since the epoch. */
    timestamp: z.number().int(),
    /** The compact JWS (ES256, the service's signing key; kid in its header, key in the JWKS). */
    signature: z.string(),
  }),
} as const;

/** One stream per UTC day: a head every minute is 1,440 events a day. */
export const treeHeadStream = (at: Date): string => `ledger-${at.toISOString().slice(0, 10)}`;
