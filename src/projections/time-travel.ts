import { InvalidCommandError } from '../domain/shared/errors.js';
import { auditPosition } from '../ports/audit-log.js';
import { MemoryReadModelStore } from '../infra/memory/memory-read-models.js';
import type { AuditLog } from '../ports/audit-log.js';
import type { ReadModelStore } from '../ports/read-models.js';
import type { Projection } from './projection.js';
import { applyToProjection } from './runner.js';

/** A moment of the past: a time, or a position of the log. */
export type Moment = { readonly asOf: Date } | { readonly asOfPosition: bigint };

/** The organization had more events up to the moment than TIME_TRAVEL_MAX_EVENTS allows to replay. */
export class TimeTravelTooLongError extends InvalidCommandError {
  override readonly name = 'TimeTravelTooLongError';
  constructor(organizationId: string, maxEvents: number) {
    super(
      `organization ${organizationId} has more than ${maxEvents} events up to that moment, more than one past state may replay (TIME_TRAVEL_MAX_EVENTS)`,
    );
  }
}

/** The moment asked for is after the newest event the service knows. */
export class MomentInTheFutureError extends InvalidCommandError {
  override readonly name = 'MomentInTheFutureError';
}

export interface TimeTravelSettings {
  /** At most this many events are replayed for one past state (TIME_TRAVEL_MAX_EVENTS). */
  readonly maxEvents: number;
  /** Past states kept, least recently used dropped first (TIME_TRAVEL_CACHED_MODELS); 0 keeps none. */
  readonly cachedModels: number;
}

/** One organization's read models as they stood after the event at `position` (undefined: before its first event). */
export interface PastModel {
  readonly organizationId: string;
  readonly position: bigint | undefined;
  readonly store: ReadModelStore;
  /** Events replayed to build it. */
  readonly events: number;
}

/** Events replayed between two turns of the event loop. */
const YIELD_EVERY = 512;

/**
 * Read models as of a moment (issue 11): the organization's events up to the
 * moment (for a time, up to the last of them that occurred at or before it)
 * replayed through every projection into a fresh in-memory store. Nothing is
 * kept beside the live read models: each past state is built on demand,
 * bounded by `maxEvents`, and the last few are kept (an auditor pages through
 * a list as of one moment). Cost: see docs/time-travel.md.
 */
export class TimeTravel {
  /** Built (or being built) states, by organization and position, least recently used first. */
  private readonly cache = new Map<string, Promise<PastModel>>();

  constructor(
    private readonly auditLog: AuditLog,
    private readonly projections: readonly Projection<any>[],
    private readonly settings: TimeTravelSettings,
  ) {}

  /** The position of the organization's last event at or before the moment; undefined when it had none yet. */
  async positionOf(organizationId: string, moment: Moment): Promise<bigint | undefined> {
    const head = await this.auditLog.indexedPosition();
    if ('asOfPosition' in moment) {
      if (head === undefined || moment.asOfPosition > head) {
        throw new MomentInTheFutureError(`asOfPosition ${moment.asOfPosition} is after the newest position of the log (${head ?? 'none'})`);
      }
      const [last] = await this.auditLog.page({ organizationId, atOrBefore: moment.asOfPosition, order: 'desc' }, 1);
      return last && auditPosition(last.event);
    }
    if (moment.asOf.getTime() > Date.now()) throw new MomentInTheFutureError(`asOf ${moment.asOf.toISOString()} is in the future`);
    const [last] = await this.auditLog.page({ organizationId, to: moment.asOf, order: 'desc' }, 1);
    return last && auditPosition(last.event);
  }

  /** The organization's read models as of the moment. */
  async at(organizationId: string, moment: Moment): Promise<PastModel> {
    const position = await this.positionOf(organizationId, moment);
    const key = `${organizationId}@${position ?? 'start'}`;
    const cached = this.cache.get(key);
    if (cached) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return cached;
    }
    const building = this.build(organizationId, position);
    if (this.settings.cachedModels > 0) {
      this.cache.set(key, building);
      building.catch(() => this.cache.delete(key));
      while (this.cache.size > this.settings.cachedModels) this.cache.delete(this.cache.keys().next().value!);
    }
    return building;
  }

  private async build(organizationId: string, position: bigint | undefined): Promise<PastModel> {
    const store = await emptyModels(this.projections);
    let events = 0;
    if (position !== undefined) {
      for await (const { event } of this.auditLog.records({ organizationId, atOrBefore: position, order: 'asc' })) {
        if (++events > this.settings.maxEvents) throw new TimeTravelTooLongError(organizationId, this.settings.maxEvents);
        for (const projection of this.projections) await applyToProjection(projection, store.collection(projection.collection), event);
        if (events % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return { organizationId, position, store, events };
  }

  /** Drop the kept past states. */
  forget(): void {
    this.cache.clear();
  }
}

/** A fresh in-memory store with every projection's collection and indexes. */
export async function emptyModels(projections: readonly Projection<any>[]): Promise<MemoryReadModelStore> {
  const store = new MemoryReadModelStore();
  for (const projection of projections) await store.ensureIndexes(projection.collection, projection.indexes);
  return store;
}
