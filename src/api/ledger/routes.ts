import { z } from 'zod';
import type { SqliteMerkleTree, TreeHead } from '../../infra/ledger/sqlite-merkle-tree.js';
import { type AccessControl, MissingPermissionError } from '../auth/access-control.js';
import type { Caller } from '../auth/caller.js';
import { InvalidRequestError, NotFoundHttpError } from '../http/errors.js';
import { defineRoute } from '../http/route.js';

const TAGS = ['audit'];
const base64 = z.string().meta({ description: 'Base64 of a SHA-256 hash.' });
const count = (name: string) =>
  z
    .string()
    .regex(/^\d{1,15}$/, `${name} must be a non-negative integer`)
    .transform(Number);

export const treeHeadSchema = z
  .object({
    tree_size: z.number().int(),
    root_hash: base64,
    timestamp: z.number().int().meta({ description: 'Milliseconds since the epoch.' }),
    signature: z.string().meta({ description: 'Compact JWS (ES256) over {iss, tree_size, root_hash, timestamp}, verifiable with the JWKS.' }),
  })
  .meta({ id: 'treeHead' });

export const inclusionProofSchema = z
  .object({
    position: z.string(),
    leaf_index: z.number().int(),
    tree_size: z.number().int(),
    leaf_hash: base64,
    inclusion_path: z.array(base64),
  })
  .meta({ id: 'inclusionProof' });

export const consistencyProofSchema = z
  .object({ tree_size_1: z.number().int(), tree_size_2: z.number().int(), consistency_path: z.array(base64) })
  .meta({ id: 'consistencyProof' });

const inclusionQuerySchema = z.strictObject({
  position: z.string().regex(/^\d{1,19}(\/\d{1,19})?$/, 'position must be a global position, as the audit log shows it'),
  treeSize: count('treeSize'),
});
const consistencyQuerySchema = z.strictObject({ from: count('from'), to: count('to') });

const b64 = (hash: Buffer) => hash.toString('base64');
const toBody = (head: TreeHead) => ({ tree_size: head.treeSize, root_hash: b64(head.rootHash), timestamp: head.timestamp, signature: head.signature });

/** "12" (SQLite: commit and prepare are one number) or "12/12" (EventStoreDB). */
const toPosition = (text: string) => {
  const [commit, prepare = commit] = text.split('/');
  return { commit: BigInt(commit!), prepare: BigInt(prepare) };
};

/**
 * The verifiable log (docs/ledger.md): the latest signed tree head, and
 * RFC 9162 inclusion and consistency proofs. Hashes only, no event data;
 * for platform administrators and whoever may read an organization's audit log.
 */
export function ledgerRoutes(deps: { tree: SqliteMerkleTree; latestHead: () => TreeHead | undefined; access: AccessControl }) {
  const { tree, latestHead, access } = deps;
  const mayAudit = async (caller: Caller) => {
    if (caller.platformAdministrator) return;
    if (caller.organizationId && (await access.allows(caller, { organizationId: caller.organizationId }, 'identity:audit', 'read'))) return;
    throw new MissingPermissionError('identity:audit', 'read');
  };
  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/audit/tree-head',
      summary: 'The latest signed tree head of the log: its size, root hash and time, signed with the key in the JWKS.',
      tags: TAGS,
      access: 'authenticated',
      responses: { 200: { description: 'A signed tree head.', schema: treeHeadSchema } },
      handler: async ({ caller }) => {
        await mayAudit(caller);
        const head = latestHead();
        if (!head) throw new NotFoundHttpError('no tree head has been signed yet');
        return { status: 200, body: toBody(head) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/audit/proofs/inclusion',
      summary: 'An RFC 9162 inclusion proof: the event at a position is leaf leaf_index of the tree of tree_size leaves.',
      tags: TAGS,
      access: 'authenticated',
      request: { query: inclusionQuerySchema },
      responses: { 200: { description: 'An inclusion proof.', schema: inclusionProofSchema } },
      handler: async ({ caller, query }) => {
        await mayAudit(caller);
        const index = tree.leafIndexOf(toPosition(query.position));
        if (index === undefined) throw new NotFoundHttpError(`no event at position ${query.position} is in the tree yet`);
        if (query.treeSize <= index || query.treeSize > tree.size()) {
          throw new InvalidRequestError(`treeSize must be above ${index} (the leaf's index) and at most ${tree.size()}`);
        }
        return {
          status: 200,
          body: {
            position: query.position,
            leaf_index: index,
            tree_size: query.treeSize,
            leaf_hash: b64(tree.leaf(index)),
            inclusion_path: tree.inclusionProof(index, query.treeSize).map(b64),
          },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/audit/proofs/consistency',
      summary: 'An RFC 9162 consistency proof: the tree of `from` leaves is a prefix of the tree of `to` leaves.',
      tags: TAGS,
      access: 'authenticated',
      request: { query: consistencyQuerySchema },
      responses: { 200: { description: 'A consistency proof.', schema: consistencyProofSchema } },
      handler: async ({ caller, query }) => {
        await mayAudit(caller);
        if (query.from < 1 || query.from > query.to || query.to > tree.size()) {
          throw new InvalidRequestError(`need 1 <= from <= to <= ${tree.size()} (the tree's size)`);
        }
        return { status: 200, body: { tree_size_1: query.from, tree_size_2: query.to, consistency_path: tree.consistencyProof(query.from, query.to).map(b64) } };
      },
    }),
  ];
}
