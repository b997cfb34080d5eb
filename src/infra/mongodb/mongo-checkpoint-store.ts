import type { Collection, Db } from 'mongodb';
import type { CheckpointStore } from '../../ports/checkpoints.js';
import { type GlobalPosition, parsePosition, positionToString } from '../../ports/event-store.js';
import { MongoReadModelStore } from './mongo-read-model-store.js';

interface CheckpointDocument {
  _id: string;
  position: string;
}

/**
 * Process-manager checkpoints in `_process_checkpoints` of the read-model
 * database. It borrows the store's connection and does not close it.
 */
export class MongoCheckpointStore implements CheckpointStore {
  private readonly checkpoints: Collection<CheckpointDocument>;

  constructor(source: MongoReadModelStore | Db) {
    const db = source instanceof MongoReadModelStore ? source.db : source;
    this.checkpoints = db.collection<CheckpointDocument>('_process_checkpoints');
  }

  async load(name: string): Promise<GlobalPosition | undefined> {
    const doc = await this.checkpoints.findOne({ _id: name });
    return doc ? parsePosition(doc.position) : undefined;
  }

  async save(name: string, position: GlobalPosition): Promise<void> {
    await this.checkpoints.replaceOne({ _id: name }, { position: positionToString(position) }, { upsert: true });
  }

  /** The connection belongs to MongoReadModelStore, which closes it. */
  async close(): Promise<void> {}
}
