import type { Logger } from 'pino';
import { type EventStore, type GlobalPosition, parsePosition } from '../ports/event-store.js';
import type { ReadModelStore } from '../ports/read-models.js';
import type { Projection } from './projection.js';
import { applyToProjection, ProjectionRunner } from './runner.js';

export interface RebuildReport {
  /** Events folded from position zero. */
  readonly replayed: number;
  /** Projections that could not apply an event (then nothing was switched). */
  readonly failures: Record<string, string>;
  /** Documents per projection in the rebuilt read models. */
  readonly documents: Record<string, number>;
  /** With versions: whether the new version went live, and the events applied after the switch. */
  readonly switched?: { readonly tail: number };
}

export interface RebuildSteps {
  onProgress?(done: number, total: number): void;
  /** Told of each step of a versioned rebuild (switched, caught up, dropped the previous). */
  onStep?(message: string): void | Promise<void>;
}

/**
 * Fold the whole log into the read models again, from position zero. A store
 * that keeps versions (MongoDB) is rebuilt beside the live version, which
 * running instances keep serving: the new version is built, switched to in one
 * write, then given the events that running instances may have applied to the
 * old version only before they saw the switch (writes are conditional on
 * position, so what they also wrote is left alone), and the old version is
 * dropped. A rebuild with a failed projection is not switched to, and its
 * version is dropped. Other stores (in memory) are cleared and refilled.
 */
export async function rebuildReadModels(
  events: EventStore,
  readModels: ReadModelStore,
  projections: readonly Projection<any>[],
  logger: Logger,
  steps: RebuildSteps = {},
): Promise<RebuildReport> {
  const version = await readModels.beginVersion?.();
  const target = version?.store ?? readModels;
  let published = false;
  try {
    const runner = new ProjectionRunner(events, target, projections, logger);
    const replayed = await runner.rebuild(steps.onProgress);
    const failures = runner.status().failures;
    const documents: Record<string, number> = {};
    for (const projection of projections) documents[projection.name] = await target.collection(projection.collection).count({});
    if (!version || Object.keys(failures).length > 0) return { replayed, failures, documents };

    await version.publish();
    published = true;
    await steps.onStep?.('switched the live read models to the new version');
    // Running instances read the pointer again within switchDelayMs.
    await new Promise((resolve) => setTimeout(resolve, 2 * version.switchDelayMs));
    const position = runner.status().position;
    const tail = await catchUp(events, target, projections, position === undefined ? undefined : parsePosition(position));
    await steps.onStep?.(`applied ${tail} events written during the switch`);
    await version.dropPrevious();
    await steps.onStep?.('dropped the previous version');
    return { replayed, failures, documents, switched: { tail } };
  } finally {
    if (version && !published) await version.discard();
    if (version) await target.close();
  }
}

/** Apply every event after `after` to every projection, a page (one bulk write per collection) at a time. */
async function catchUp(events: EventStore, readModels: ReadModelStore, projections: readonly Projection<any>[], after: GlobalPosition | undefined): Promise<number> {
  let count = 0;
  for (;;) {
    const page = await events.readAll({ after, maxCount: 1000 });
    if (page.length === 0) return count;
    const applyPage = async () => {
      for (const event of page) {
        for (const projection of projections) await applyToProjection(projection, readModels.collection(projection.collection), event);
      }
    };
    await (readModels.batch ? readModels.batch(applyPage) : applyPage());
    count += page.length;
    after = page.at(-1)!.position;
  }
}
