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

  /**
   * Several instances (docs/cluster.md): one signs, under its lease; the others
   * keep the newest head it appended to the log beside their own tree (built
   * from the same log, so the same root at that size) once their tree has
   * reached its size, so that every instance answers the tree head.
   */
  async adoptLatest(now = new Date()): Promise<TreeHead | undefined> {
    const { tree, events } = this.deps;
    const yesterday = new Date(now.getTime() - 86_400_000);
    for (const day of [now, yesterday]) {
      const [last] = await events.readStream(treeHeadStream(day), { direction: 'backwards', maxCount: 1 });
      if (!last || last.type !== 'ledger.tree_head.signed') continue;
      const data = last.data as { treeSize: number; rootHash: string; timestamp: number; signature: string };
      const current = tree.latestHead();
      if ((current && current.treeSize >= data.treeSize) || data.treeSize > tree.size()) return undefined;
      const head: TreeHead = { treeSize: data.treeSize, rootHash: Buffer.from(data.rootHash, 'base64'), timestamp: data.timestamp, signature: data.signature };
      // Only a head whose root is this tree's at that size.
      if (!tree.root(data.treeSize).equals(head.rootHash)) {
        this.deps.logger.error({ treeSize: data.treeSize }, 'a signed tree head in the log does not match this instance\'s tree');
        return undefined;
      }
      tree.saveHead(head);
      return head;
    }
    return undefined;
  }

  /** Adopt the signer's heads every `everyMs` (instances that do not hold the signer's lease). */
  follow(everyMs = 1000): { stop(): void } {
    const timer = setInterval(() => {
      void this.adoptLatest().catch((error: unknown) => this.deps.logger.warn({ err: error }, 'could not adopt the latest tree head'));
    }, everyMs);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }
}
