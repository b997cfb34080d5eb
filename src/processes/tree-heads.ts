import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { toNewEvent } from '../commands/pipeline.js';
import { treeHeadStream } from '../domain/ledger/events.js';
import type { SqliteMerkleTree, TreeHead } from '../infra/ledger/sqlite-merkle-tree.js';
import type { EventStore } from '../ports/event-store.js';

export interface TreeHeadSettings {
  /** Sign once this many leaves were added since the last head. */
  readonly everyEvents: number;
  /** Or once this long has passed since it, when anything was added. */
  readonly everySeconds: number;
}

/** What signs: the service's token signing key (src/infra/keys/signing-keys.ts), published in the JWKS. */
export interface TreeHeadSigningKey {
  sign(payload: Record<string, unknown>, typ: string): Promise<string>;
}

export const TREE_HEAD_JWS_TYPE = 'tree-head+jwt';

/**
 * Signs the Merkle tree of the log at least every N leaves or T seconds, and
 * appends each signed head to the log (`ledger.tree_head.signed`) as well as
 * keeping it beside the tree for GET /api/v1/audit/tree-head. A head's own
 * event is a leaf of the next tree; a tree grown by nothing but that event is
 * not signed again, so an idle service writes nothing.
 */
export class TreeHeads {
  private timer: NodeJS.Timeout | undefined;
  private signing: Promise<TreeHead | undefined> | undefined;

  constructor(
    private readonly deps: {
      readonly tree: SqliteMerkleTree;
      readonly events: EventStore;
      readonly key: TreeHeadSigningKey;
      readonly issuer: string;
      readonly settings: TreeHeadSettings;
      readonly logger: Logger;
      readonly clock?: () => Date;
    },
  ) {}

  start(checkEveryMs = Math.min(1000, this.deps.settings.everySeconds * 1000)): void {
    this.timer ??= setInterval(() => {
      void this.tick().catch((error: unknown) => this.deps.logger.error({ err: error }, 'signing a tree head failed'));
    }, checkEveryMs);
    this.timer.unref();
  }

  latest(): TreeHead | undefined {
    return this.deps.tree.latestHead();
  }

  /** Sign a head now if one is due; one signing at a time. */
  async tick(): Promise<TreeHead | undefined> {
    this.signing ??= this.signIfDue().finally(() => (this.signing = undefined));
    return this.signing;
  }

  private async signIfDue(): Promise<TreeHead | undefined> {
    const { tree, settings } = this.deps;
    const now = (this.deps.clock ?? (() => new Date()))();
    const size = tree.size();
    const last = tree.latestHead();
    // Nothing new, or nothing but the last head's own event.
    if (size === 0 || (last && size <= last.treeSize + 1)) return undefined;
    const due = !last || size - last.treeSize >= settings.everyEvents || now.getTime() - last.timestamp >= settings.everySeconds * 1000;
    if (!due) return undefined;
    return this.sign(size, now);
  }

  /** Sign the tree at `size` leaves (at most its current size). */
  async sign(size = this.deps.tree.size(), now = new Date()): Promise<TreeHead> {
    const { tree, events, key, issuer } = this.deps;
    const rootHash = tree.root(size);
    const timestamp = now.getTime();
    const signature = await key.sign({ iss: issuer, tree_size: size, root_hash: rootHash.toString('base64'), timestamp }, TREE_HEAD_JWS_TYPE);
    const head: TreeHead = { treeSize: size, rootHash, timestamp, signature };
    const correlationId = randomUUID();
    await events.appendToStream(
      treeHeadStream(now),
      [
        toNewEvent(
          { type: 'ledger.tree_head.signed', data: { treeSize: size, rootHash: rootHash.toString('base64'), timestamp, signature } },
          { now, actor: { subject: 'ledger', kind: 'system' }, correlationId, causationId: correlationId },
        ),
      ],
      { expectedRevision: 'any' },
    );
    tree.saveHead(head);
    return head;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
