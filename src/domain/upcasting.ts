import type { z } from 'zod';
import { eventSchemas } from './events.js';
import { upcastGroupDetailsV1 } from './group/events.js';
import { upcastLoginFailedV1, upcastLoginV1 } from './login-flow/events.js';

/**
 * Events that can evolve. Every stored event carries the schema version of
 * its data (`metadata.schemaVersion`; an event without one is version 1, which
 * is what the log held before versions existed). When the shape of an event
 * type changes, its schema in the registry (src/domain/events.ts) becomes the
 * new shape and an upcaster is added here that turns the previous version's
 * data into it: the type's current version is one more than its number of
 * upcasters, so adding one is what bumps it.
 *
 * On read, `readEvent` upcasts an older event step by step to the current
 * version and validates it with the current schema (safeParse). What it cannot
 * read (a type this version does not know, a version newer than it knows, data
 * that fails the schema, an upcaster that throws) is answered as unreadable,
 * never thrown: readers skip it and report it.
 */

/** Turns the data of version N of one event type into version N+1. Pure; throws when the data cannot be upcast. */
export type Upcaster = (data: unknown, event: { readonly streamName?: string; readonly metadata?: unknown }) => unknown;

export interface EventRegistry {
  /** The current schema of each event type. */
  readonly schemas: Readonly<Record<string, z.ZodType>>;
  /** Per type, upcasters[type][0] turns version 1 into 2, [1] turns 2 into 3, and so on. */
  readonly upcasters: Readonly<Record<string, readonly Upcaster[]>>;
}

/**
 * Every upcaster of the service, per event type, oldest first. A type not
 * listed is at version 1.
 */
export const UPCASTERS: Readonly<Record<string, readonly Upcaster[]>> = {
  // Version 2: membership changes are events per member; the whole lists of version 1 move under `members`.
  'group.created': [upcastGroupDetailsV1],
  'group.updated': [upcastGroupDetailsV1],
  // Version 2: login records say how and why; version 1 was the lockout's `{userId, organizationId[, consecutiveFailures]}`.
  'user.login.succeeded': [upcastLoginV1],
  'user.login.failed': [upcastLoginFailedV1],
  // [upcasters]
};

/** Why an event could not be read. */
export const UNREADABLE_PROBLEMS = ['unknown_type', 'future_version', 'invalid', 'upcast_failed'] as const;
export type UnreadableProblem = (typeof UNREADABLE_PROBLEMS)[number];

/**
 * The type an unreadable event is handed to readers as. `$` starts no type the
 * service writes (EventStoreDB reserves it for system events), so no decider,
 * projection or process handles it: each of them passes over it.
 */
export const UNREADABLE_EVENT_TYPE = '$unreadable';

/** The data of an unreadable event as readers see it: what it was, and why it cannot be read. Never its data. */
export interface UnreadableEventData {
  readonly type: string;
  readonly schemaVersion: number;
  readonly problem: UnreadableProblem;
  /** Which fields failed, or what went wrong; never the values. */
  readonly detail: string;
}

/** Is this an event its reader could not read (handed over as UNREADABLE_EVENT_TYPE)? */
export const isUnreadable = (event: { readonly type: string }): event is { readonly type: typeof UNREADABLE_EVENT_TYPE; readonly data: UnreadableEventData } =>
  event.type === UNREADABLE_EVENT_TYPE;

export type ReadOutcome =
  | { readonly ok: true; readonly data: unknown; readonly schemaVersion: number; readonly upcastFrom?: number }
  | { readonly ok: false; readonly unreadable: UnreadableEventData };

/** The version an event was written at: metadata.schemaVersion, or 1 when it has none. Undefined when it is not a version. */
export function writtenVersion(metadata: unknown): number | undefined {
  const version = (metadata as { schemaVersion?: unknown } | null | undefined)?.schemaVersion;
  if (version === undefined) return 1;
  return typeof version === 'number' && Number.isSafeInteger(version) && version >= 1 ? version : undefined;
}

/** Where and how data failed its schema, without the values (they may be personal or secret). */
const describeIssues = (error: z.ZodError): string =>
  error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(data)'}: ${issue.code}`)
    .join('; ');

export interface EventReader {
  /** The current schema version of a type; undefined for a type this version does not know. */
  currentVersion(type: string): number | undefined;
  /** Upcast to the current version, then validate. */
  read(event: { readonly type: string; readonly data: unknown; readonly metadata?: unknown; readonly streamName?: string }): ReadOutcome;
}

export function createEventReader(registry: EventRegistry): EventReader {
  const currentVersion = (type: string): number | undefined =>
    Object.hasOwn(registry.schemas, type) ? 1 + (registry.upcasters[type]?.length ?? 0) : undefined;
  return {
    currentVersion,
    read(event) {
      const version = writtenVersion(event.metadata);
      const unreadable = (problem: UnreadableProblem, detail: string): ReadOutcome => ({
        ok: false,
        unreadable: { type: event.type, schemaVersion: version ?? 0, problem, detail },
      });
      const current = currentVersion(event.type);
      if (current === undefined) return unreadable('unknown_type', `this version does not know ${event.type}`);
      if (version === undefined) return unreadable('invalid', 'metadata.schemaVersion is not a positive integer');
      if (version > current) return unreadable('future_version', `written at version ${version}; this version reads up to ${current}`);
      let data = event.data;
      const steps = registry.upcasters[event.type] ?? [];
      for (let from = version; from < current; from++) {
        try {
          data = steps[from - 1]!(data, event);
        } catch (error) {
          return unreadable('upcast_failed', `from version ${from} to ${from + 1}: ${error instanceof Error ? error.name : 'error'}`);
        }
      }
      const parsed = registry.schemas[event.type]!.safeParse(data);
      if (!parsed.success) {
        return unreadable('invalid', `${version < current ? `upcast from version ${version}, ` : ''}${describeIssues(parsed.error)}`);
      }
      return version < current ? { ok: true, data: parsed.data, schemaVersion: current, upcastFrom: version } : { ok: true, data: parsed.data, schemaVersion: current };
    },
  };
}

/** The service's reader: today's schemas and upcasters. */
export const eventReader: EventReader = createEventReader({ schemas: eventSchemas, upcasters: UPCASTERS });

/** The version new events of a known type are written at. */
export const currentSchemaVersion = (type: string): number => {
  const version = eventReader.currentVersion(type);
  if (version === undefined) throw new Error(`unknown event type ${type}`);
  return version;
};
