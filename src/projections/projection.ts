import type { RecordedEvent } from '../ports/event-store.js';
import type { Document, Filter, IndexSpec } from '../ports/read-models.js';

/**
 * The documents of one projection's collection, as a handler sees them. Every
 * change is stamped with the event's global position, and a document that has
 * already seen an event (or a later one) is left alone: re-delivery changes nothing.
 */
export interface ProjectionDocuments<T extends Document> {
  /** Change one document; return undefined to delete it. */
  update(id: string, change: (current: T | undefined) => T | undefined): Promise<void>;
  /** Change every document that matches the filter. */
  updateWhere(filter: Filter, change: (current: T) => T | undefined): Promise<void>;
}

export type ProjectionHandler<T extends Document> = (event: RecordedEvent<any, any>, documents: ProjectionDocuments<T>) => Promise<void>;

export interface Projection<T extends Document = Document> {
  /** Also the name of its checkpoint. */
  readonly name: string;
  readonly collection: string;
  /**
   * Bump it when what the handlers write changes in a way their source does
   * not show (a helper they call, a shape they build): a saved read-model
   * snapshot (src/infra/memory/read-model-snapshot.ts) of another version is
   * not loaded, and the log is folded again. Default 1.
   */
  readonly version?: number;
  readonly indexes: readonly IndexSpec[];
  /** The events it handles, and how each evolves the documents. */
  readonly handlers: Readonly<Record<string, ProjectionHandler<T>>>;
}

export const defineProjection = <T extends Document>(projection: Projection<T>): Projection<T> => projection;
